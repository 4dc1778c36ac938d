// The dApp page: a browser calling the access contract itself, with no relay in the
// path. The relay (this page's origin unless the user types another) is asked only
// where the contract is (GET /contract); the page shows the address and code hash it
// connected to. The account signs with a wallet extension (the standard
// injected-extension API) or, on a chain whose node says it is a development chain,
// with a development account.
import "../console/style.css";
import "./dapp.css";
import { AccessContract, contractInfo, type Decision, type ShareEventSeen } from "./access";
import { badge, h, localInputToRfc3339, notice, show } from "../console/dom";
import { decodeAddress, encodeAddress, u8aToHex } from "dedot/utils";

interface InjectedAccount {
  address: string;
  name?: string;
}
interface Injected {
  accounts: { get(): Promise<InjectedAccount[]> };
  signer: object;
}
declare global {
  interface Window {
    injectedWeb3?: Record<string, { enable(origin: string): Promise<Injected> }>;
  }
}

/** How the chosen account signs. */
type Signer = { kind: "dev"; uri: string } | { kind: "wallet"; signer: object };

/** The development chain's funded accounts. */
const DEV_ACCOUNTS = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"].flatMap((name) => [name, `${name}//stash`]);
const main = document.getElementById("main")!;
const params = new URLSearchParams(location.search);
let access: AccessContract | null = null;
const signers = new Map<string, Signer>();

const relayInput = h("input", { id: "relay", type: "url", value: location.origin });
const nodeInput = h("input", { id: "node", type: "url", placeholder: "the relay's published node" });
const connectButton = h("button", { type: "submit" }, "Connect");
const connection = h("div", { "aria-live": "polite" });
const accountSelect = h("select", { id: "account", "aria-describedby": "account-help" });
const walletButton = h("button", { type: "button", class: "secondary", hidden: !window.injectedWeb3 }, "Connect wallet");
const shareInput = h("input", { id: "share", type: "text", placeholder: "share_…", value: params.get("share") ?? "", autocomplete: "off" });
const readButton = h("button", { type: "submit" }, "Read");
const record = h("section", { "aria-live": "polite", "aria-label": "Share record" });
const actionStatus = h("div", { "aria-live": "polite" });
const events = h("ol", { class: "events", "aria-label": "Contract events" });

const connectForm = h(
  "form",
  { class: "card" },
  h("h2", {}, "Contract"),
  h("div", { class: "row" }, h("div", {}, h("label", { for: "relay" }, "Relay"), relayInput), h("div", {}, h("label", { for: "node" }, "Chain node (optional)"), nodeInput)),
  connectButton,
  connection,
);
const shareForm = h(
  "form",
  { class: "card" },
  h("h2", {}, "Share"),
  h("label", { for: "account" }, "Account"),
  h("div", { class: "inline" }, accountSelect, walletButton),
  h("small", { id: "account-help" }, "Who reads and signs: a wallet's account, or on a development chain a development account."),
  h("label", { for: "share" }, "Share id"),
  h("div", { class: "inline" }, shareInput, readButton),
  record,
  actionStatus,
);
show(
  main,
  h("h1", {}, "dApp"),
  h("p", { class: "lead" }, "Reads and changes shares on the access contract directly; every change is signed by your account."),
  connectForm,
  shareForm,
  h("section", { class: "card" }, h("h2", {}, "Live events"), events),
);

connectForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void connect();
});
shareForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void read();
});
walletButton.addEventListener("click", () => void connectWallet());

async function connect(): Promise<void> {
  connectButton.disabled = true;
  notice(connection, "Connecting…");
  try {
    await access?.disconnect();
    const info = await contractInfo(relayInput.value);
    access = await AccessContract.connect(info, nodeInput.value);
    const chain = await access.client.rpc.system_chain();
    const development = (await access.client.rpc.system_chainType()) === "Development";
    show(
      connection,
      h("p", { class: "notice ok", role: "status" }, `Connected to ${chain}: contract `, h("code", {}, info.address), ", code ", h("code", {}, info.code_hash)),
    );
    accountSelect.replaceChildren();
    if (development) {
      for (const name of DEV_ACCOUNTS) {
        const address = await devAddress(`//${name}`);
        signers.set(address, { kind: "dev", uri: `//${name}` });
        accountSelect.append(h("option", { value: address }, `${name} (development) — ${address}`));
      }
    }
    if (params.get("account")) accountSelect.value = params.get("account")!;
    await access.watchShareEvents(showEvent);
  } catch (error) {
    notice(connection, (error as Error).message, "bad");
  } finally {
    connectButton.disabled = false;
  }
}

async function connectWallet(): Promise<void> {
  try {
    for (const [name, extension] of Object.entries(window.injectedWeb3 ?? {})) {
      const injected = await extension.enable("DataMgmt Node dApp");
      for (const account of await injected.accounts.get()) {
        signers.set(account.address, { kind: "wallet", signer: injected.signer });
        accountSelect.prepend(h("option", { value: account.address }, `${account.name ?? name} — ${account.address}`));
      }
    }
    accountSelect.selectedIndex = 0;
  } catch (error) {
    notice(actionStatus, `The wallet refused: ${(error as Error).message}`, "bad");
  }
}

async function devAddress(uri: string): Promise<string> {
  return (await devPair(uri)).address;
}

/** A development key pair (the keyring and its WebAssembly load on first use). */
async function devPair(uri: string) {
  const [{ Keyring }, { cryptoWaitReady }] = await Promise.all([import("@polkadot/keyring"), import("@polkadot/util-crypto")]);
  await cryptoWaitReady();
  return new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(uri);
}

function decisionBadge(decision: Decision): HTMLElement {
  return decision.type === "Allowed" ? badge(`allowed: ${decision.value}`, "ok") : badge(`denied: ${decision.value}`, "bad");
}

async function read(): Promise<void> {
  if (!access) return notice(record, "Connect to the contract first.", "bad");
  const account = accountSelect.value;
  const shareId = shareInput.value.trim();
  try {
    const share = await access.share(shareId, account);
    if (!share) return notice(record, `No share ${shareId} on the contract.`, "bad");
    const decision = await access.canAccess(shareId, account);
    const owner = encodeAddress(share.owner);
    const recipient = encodeAddress(share.recipient);
    // The same account in any address format.
    const is = (address: string, account: string) => u8aToHex(decodeAddress(address)) === u8aToHex(decodeAddress(account));
    const expiry = h("input", { id: "expiry", type: "datetime-local", "aria-label": "New expiry" });
    const buttons: HTMLElement[] = [];
    const act = (label: string, run: () => Promise<string>, tone = "secondary") => {
      const button = h("button", { type: "button", class: tone }, label);
      button.addEventListener("click", async () => {
        button.disabled = true;
        notice(actionStatus, `${label}: sign, then wait for a final block…`);
        try {
          notice(actionStatus, await run(), "ok");
          await read();
        } catch (error) {
          notice(actionStatus, (error as Error).message, "bad");
        } finally {
          button.disabled = false;
        }
      });
      buttons.push(button);
    };
    if (is(recipient, account) && share.price > 0n) {
      act(`Pay ${share.price}`, () => submit("payForAccess", shareId, account, { value: share.price }), "primary");
    }
    if (is(owner, account)) {
      act("Revoke", () => submit("revoke", shareId, account), "danger");
      act("Set expiry", () => {
        const at = localInputToRfc3339(expiry.value);
        return submit("setExpiry", shareId, account, { expiresAt: at ? BigInt(Date.parse(at)) : undefined });
      });
    }
    show(
      record,
      h(
        "dl",
        { class: "receipt" },
        h("dt", {}, "Owner"), h("dd", {}, h("code", {}, owner)),
        h("dt", {}, "Recipient"), h("dd", {}, h("code", {}, recipient)),
        h("dt", {}, "Price"), h("dd", {}, share.price === 0n ? "free" : String(share.price)),
        h("dt", {}, "Expires"), h("dd", {}, share.expiresAt ? new Date(Number(share.expiresAt)).toLocaleString() : "never"),
        h("dt", {}, "Revoked"), h("dd", {}, share.revokedAt ? new Date(Number(share.revokedAt)).toLocaleString() : "no"),
        h("dt", {}, "This account"), h("dd", { "data-testid": "decision" }, decisionBadge(decision)),
      ),
      is(owner, account) ? h("div", { class: "inline" }, expiry) : null,
      h("div", { class: "buttons" }, ...buttons),
    );
  } catch (error) {
    notice(record, (error as Error).message, "bad");
  }
}

/** Dry-runs, signs with the chosen account and waits for a finalized block. */
async function submit(kind: "payForAccess" | "revoke" | "setExpiry", shareId: string, account: string, extra: { value?: bigint; expiresAt?: bigint } = {}): Promise<string> {
  const tx = await access!.prepare(kind, shareId, account, extra);
  const signer = signers.get(account);
  if (!signer) throw new Error("this account cannot sign here");
  const result =
    signer.kind === "dev"
      ? await tx.signAndSend(await devPair(signer.uri)).untilFinalized()
      : await tx.signAndSend(account, { signer: signer.signer as never }).untilFinalized();
  if (result.dispatchError) throw new Error(`the chain refused: ${JSON.stringify(result.dispatchError)}`);
  const where = result.status.type === "Finalized" ? ` in block ${result.status.value.blockNumber}` : "";
  return `Done${where} (transaction ${result.txHash}).`;
}

function showEvent(event: ShareEventSeen): void {
  const what = event.action.type;
  events.prepend(
    h("li", { "data-kind": what }, h("strong", {}, what), " ", h("code", {}, event.shareId), ` at ${new Date(Number(event.at)).toLocaleTimeString()}`),
  );
  while (events.children.length > 50) events.lastElementChild!.remove();
}

void connect();
