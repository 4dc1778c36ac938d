// The access contract from a browser, on dedot: connecting to the chain node and the
// contract a relay publishes (GET /contract), in the types generated from the
// contract's metadata (./generated, `npm run generate`). A dApp team can copy this
// file and ./generated as they are: nothing here depends on the console.
import { LegacyClient, WsProvider } from "dedot";
import { Contract } from "dedot/contracts";
import type { AccessContractApi } from "./generated";
import type { DatamgmtAbiDecision, DatamgmtAbiError, DatamgmtAbiRecordsShare, DatamgmtAbiEventsShareAction } from "./generated/types";

export type { DatamgmtAbiDecision as Decision, DatamgmtAbiRecordsShare as ShareRecord };

/** What a relay publishes at GET /contract. */
export interface ContractInfo {
  address: string;
  code_hash: string;
  node_url: string | null;
  metadata: object;
}

/** A share event, decoded, with where it happened. */
export interface ShareEventSeen {
  shareId: string;
  owner: string;
  recipient: string;
  action: DatamgmtAbiEventsShareAction;
  at: bigint;
}

/** Reads GET /contract of the relay at `relayUrl` ("" for this page's own origin). */
export async function contractInfo(relayUrl: string): Promise<ContractInfo> {
  const response = await fetch(`${relayUrl.replace(/\/$/, "")}/contract`);
  if (!response.ok) throw new Error(`the relay answered ${response.status} for /contract`);
  return (await response.json()) as ContractInfo;
}

/** A share id as the relay writes it (`share_` + 32 hex) in the contract's form. */
export function shareIdBytes(shareId: string): `0x${string}` {
  const match = /^share_([0-9a-f]{32})$/.exec(shareId.trim());
  if (!match) throw new Error("a share id is `share_` and 32 hex digits");
  return `0x${match[1]}`;
}

/** A contract error in words. */
export function explain(error: DatamgmtAbiError): string {
  switch (error.type) {
    case "AccessDenied":
      return `access denied: ${error.value}`;
    case "WrongPayment":
      return `wrong payment: expected ${error.value[0]}, paid ${error.value[1]}`;
    default:
      return error.type.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  }
}

export class AccessContract {
  private constructor(
    readonly client: LegacyClient,
    readonly contract: Contract<AccessContractApi>,
    readonly info: ContractInfo,
  ) {}

  /** Connects to `nodeUrl` (or the node the relay published) and the contract. */
  static async connect(info: ContractInfo, nodeUrl?: string): Promise<AccessContract> {
    const url = nodeUrl || info.node_url;
    if (!url) throw new Error("the relay publishes no chain node: enter one");
    // The legacy JSON-RPC methods: every node serves them, and a development node
    // that seals blocks on demand does so for transactions submitted through them.
    const client = await LegacyClient.new(new WsProvider(url));
    const contract = new Contract<AccessContractApi>(client, info.metadata as never, info.address);
    return new AccessContract(client, contract, info);
  }

  /** Whether `account` may have the key of `shareId` now, and why not. */
  async canAccess(shareId: string, account: string): Promise<DatamgmtAbiDecision> {
    const { data } = await this.contract.query.canAccess(shareIdBytes(shareId), account, { caller: account });
    if (data.isErr) throw new Error(explain(data.err));
    return data.value;
  }

  async share(shareId: string, caller: string): Promise<DatamgmtAbiRecordsShare | undefined> {
    const { data } = await this.contract.query.shareRecord(shareIdBytes(shareId), { caller });
    return data;
  }

  /**
   * Dry-runs a state change as `caller` (the contract's refusal, in words, before
   * anything is signed), then returns the transaction to sign.
   */
  async prepare(kind: "payForAccess" | "revoke" | "setExpiry", shareId: string, caller: string, extra: { value?: bigint; expiresAt?: bigint | undefined } = {}) {
    const id = shareIdBytes(shareId);
    const options = { caller, value: extra.value ?? 0n };
    const { data } =
      kind === "setExpiry"
        ? await this.contract.query.setExpiry(id, extra.expiresAt, options)
        : await this.contract.query[kind](id, options);
    if (data.isErr) throw new Error(explain(data.err));
    if (kind === "setExpiry") return this.contract.tx.setExpiry(id, extra.expiresAt);
    return this.contract.tx[kind](id, { value: extra.value ?? 0n });
  }

  /** Calls `seen` with every share event of the contract in each new best block. */
  async watchShareEvents(seen: (event: ShareEventSeen) => void): Promise<() => Promise<void>> {
    return this.contract.events.ShareEvent.watch((events) => {
      for (const event of events) {
        const { shareId, owner, recipient, action, at } = event.data;
        seen({ shareId: `share_${shareId.slice(2)}`, owner, recipient, action, at });
      }
    });
  }

  async disconnect(): Promise<void> {
    await this.client.disconnect();
  }
}
