// On-chain records of data, as the relay indexed them: every page of a proof, and one
// line of words for each record.
import type { Context } from "../main";
import type { ProofRecord } from "../../api/client";

/** At most this many pages of a proof are read (each up to 500 records). */
const MAX_PAGES = 20;

export async function allRecords(api: Context["api"], hash: string): Promise<ProofRecord[]> {
  const records: ProofRecord[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await api.verify(hash, token);
    records.push(...answer.records);
    token = answer.next_page_token ?? undefined;
    if (!token) break;
  }
  return records;
}

export function describe(record: ProofRecord): string {
  const { sender, recipient } = record;
  const action = record.action;
  switch (action.kind) {
    case "created":
      return `${sender.node_id} shared with ${recipient.node_id}${action.price !== "0" ? ` at ${action.price}` : ""}`;
    case "paid":
      return `${recipient.node_id} paid ${action.amount}`;
    case "key_released":
      return `${sender.node_id} released the key to ${recipient.node_id}`;
    case "revoked":
      return `${sender.node_id} revoked`;
    case "expiry_changed":
      return `expiry ${action.new ? new Date(action.new).toLocaleString() : "removed"}`;
    default:
      return "";
  }
}
