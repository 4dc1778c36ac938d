// Audit: the on-chain timeline of one piece of data (by its hash) or of one party (a
// node id: every share this node made to it or received from it), with blocks and
// extrinsic hashes, exported as CSV or JSON.
import type { Context } from "../main";
import type { ProofRecord } from "../../api/client";
import { badge, h, notice, saveFile, short, show, when } from "../dom";
import { allRecords, describe } from "./records";

/** A party's timeline reads at most this many of its shares' proofs. */
const MAX_SHARES = 200;

export async function audit(main: HTMLElement, { api, params }: Context): Promise<void> {
  const input = h("input", {
    id: "subject",
    type: "search",
    value: params.get("hash") ?? params.get("party") ?? "",
    placeholder: "sha256:… or node_…",
    required: true,
  });
  const form = h("form", { class: "card inline-form", role: "search" }, h("label", { for: "subject" }, "Data hash or node id"), input, h("button", { type: "submit" }, "Show"));
  const result = h("section", { "aria-live": "polite", "aria-label": "Timeline" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const subject = input.value.trim();
    location.hash = `#/audit?${subject.startsWith("node_") ? "party" : "hash"}=${encodeURIComponent(subject)}`;
  });
  main.append(h("h1", {}, "Audit"), h("p", { class: "lead" }, "What the contract recorded, block by block."), form, result);

  const hash = params.get("hash");
  const party = params.get("party");
  if (!hash && !party) return;
  show(result, "Reading the on-chain records…");
  try {
    const records = hash ? await allRecords(api, hash) : await partyRecords(api, party!);
    records.sort((a, b) => a.block_number - b.block_number || (a.event_index ?? 0) - (b.event_index ?? 0));
    const name = (hash ?? party!).replace(/[^A-Za-z0-9_]/g, "_");
    const csv = h("button", { type: "button", class: "secondary" }, "Export CSV");
    csv.addEventListener("click", () => saveFile(`audit-${name}.csv`, toCsv(records), "text/csv"));
    const json = h("button", { type: "button", class: "secondary" }, "Export JSON");
    json.addEventListener("click", () => saveFile(`audit-${name}.json`, JSON.stringify(records, null, 2), "application/json"));
    show(
      result,
      h("h2", {}, `${records.length} record${records.length === 1 ? "" : "s"}`),
      records.length
        ? h(
            "table",
            { class: "list timeline-table" },
            h("thead", {}, h("tr", {}, ...["When", "What", "Share", "Block", "Extrinsic", "Finality"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              ...records.map((record) =>
                h(
                  "tr",
                  { "data-kind": record.action.kind },
                  h("td", { "data-label": "When" }, when(record.timestamp)),
                  h("td", { "data-label": "What" }, h("strong", {}, record.action.kind), " ", describe(record)),
                  h("td", { "data-label": "Share" }, short(record.share_id, 12)),
                  h("td", { "data-label": "Block" }, String(record.block_number), " ", short(record.block_hash, 8)),
                  h("td", { "data-label": "Extrinsic" }, short(record.tx_hash, 8)),
                  h("td", {}, record.finalized ? badge("final", "ok") : badge("not final yet", "info")),
                ),
              ),
            ),
          )
        : h("p", {}, "Nothing recorded (yet) for this."),
      h("div", { class: "buttons" }, csv, json),
    );
  } catch (error) {
    result.replaceChildren();
    notice(result, (error as Error).message, "bad");
  }
}

/** Records of every share between this node and `party`, either way. */
async function partyRecords(api: Context["api"], party: string): Promise<ProofRecord[]> {
  const hashes = new Set<string>();
  const filters: Record<string, string>[] = [{ sender: party }, { recipient: party }];
  for (const filter of filters) {
    let token: string | undefined;
    do {
      const page = await api.list("all", { ...filter, limit: "200", ...(token ? { page_token: token } : {}) });
      page.items.forEach((item) => hashes.add(item.data_hash));
      token = page.next_page_token ?? undefined;
    } while (token && hashes.size < MAX_SHARES);
  }
  const records: ProofRecord[] = [];
  for (const hash of hashes) {
    records.push(...(await allRecords(api, hash)).filter((r) => r.sender.node_id === party || r.recipient.node_id === party));
  }
  return records;
}

function toCsv(records: ProofRecord[]): string {
  const quote = (value: unknown) => `"${String(value ?? "").replace(/"/g, '""')}"`;
  const header = ["timestamp", "kind", "share_id", "sender", "recipient", "block_number", "block_hash", "event_index", "tx_hash", "finalized", "detail"];
  const lines = records.map((r) =>
    [r.timestamp, r.action.kind, r.share_id, r.sender.node_id, r.recipient.node_id, r.block_number, r.block_hash, r.event_index, r.tx_hash, r.finalized, JSON.stringify(r.action)]
      .map(quote)
      .join(","),
  );
  return [header.join(","), ...lines].join("\n") + "\n";
}
