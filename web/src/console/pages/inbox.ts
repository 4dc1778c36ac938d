// Inbox: what other nodes shared with this one, newest first. Priced items are paid
// through this relay (its node account pays the contract); opening reads the data
// through the relay, checks its hash in the browser too, and shows text inline or
// saves a file.
import type { Context } from "../main";
import type { ListedShare } from "../../api/client";
import { badge, h, notice, progressBar, saveFile, short, show, statusBadge, when } from "../dom";
import { pagedTable } from "./table";

export async function inbox(main: HTMLElement, { api }: Context): Promise<void> {
  const status = h("div", { "aria-live": "polite" });
  const viewer = h("section", { class: "viewer", "aria-label": "Opened data" });
  main.append(h("h1", {}, "Inbox"), h("p", { class: "lead" }, "Data other nodes shared with this node."), status, viewer);

  const columns = ["Received", "From", "Data", "Price", "Status", "Actions"];
  const row = (item: ListedShare) => {
    const actions = h("div", { class: "actions" });
    const payment = paymentBadge(item);
    const open = h("button", { type: "button" }, "Open");
    open.addEventListener("click", () => void openItem(item, viewer, status, api));
    actions.append(open);
    if (item.price !== "0" && item.payment_open === false && item.status === "active") {
      const pay = h("button", { type: "button", class: "secondary" }, `Pay ${item.price}`);
      pay.addEventListener("click", async () => {
        pay.disabled = true;
        notice(status, `Paying ${item.price} for ${item.share_id}…`);
        try {
          const paid = await api.pay(item.share_id);
          notice(status, `Paid in block ${paid.compliance.block_number}. You can open it now.`, "ok");
          payment.replaceWith(badge("paid", "ok"));
          pay.remove();
        } catch (error) {
          pay.disabled = false;
          notice(status, (error as Error).message, "bad");
        }
      });
      actions.append(pay);
    }
    actions.append(h("a", { href: `#/audit?hash=${encodeURIComponent(item.data_hash)}` }, "Proof"));
    return h(
      "tr",
      { "data-share": item.share_id },
      h("td", { "data-label": "Received" }, when(item.shared_at)),
      h("td", { "data-label": "From" }, h("code", {}, item.sender)),
      h("td", { "data-label": "Data" }, short(item.data_hash, 14)),
      h("td", { "data-label": "Price" }, item.price === "0" ? "free" : item.price, " ", payment),
      h("td", { "data-label": "Status" }, statusBadge(item.status ?? "unknown")),
      h("td", {}, actions),
    );
  };
  await pagedTable(main, columns, (token) => api.list("received", token ? { page_token: token } : {}), row, "Nothing has been shared with this node yet.");
}

function paymentBadge(item: ListedShare): HTMLElement {
  if (item.price === "0") return h("span");
  return item.payment_open ? badge("paid", "ok") : badge("unpaid", "warn");
}

async function openItem(item: ListedShare, viewer: HTMLElement, status: HTMLElement, api: Context["api"]): Promise<void> {
  const bar = progressBar(`Reading ${item.data_hash}`);
  show(viewer, h("h2", {}, "Opening"), bar.element);
  status.replaceChildren();
  try {
    const download = await api.download(item.data_hash, bar.update, item.sender);
    const text = asText(download.bytes);
    const name = `${item.data_hash.slice(7, 19)}.bin`;
    const save = h("button", { type: "button", class: "secondary" }, "Save file");
    save.addEventListener("click", () => saveFile(name, download.bytes as BlobPart));
    show(
      viewer,
      h("h2", {}, "Opened ", badge("verified", "ok")),
      h(
        "p",
        { class: "meta" },
        `From ${download.sender ?? item.sender}, ${download.bytes.length} bytes, SHA-256 checked by this browser: `,
        h("code", {}, download.sha256),
      ),
      text !== null ? h("pre", { class: "text", tabindex: 0, "aria-label": "The data" }, text) : h("p", {}, "Binary data: saved as a file."),
      save,
    );
    if (text === null) saveFile(name, download.bytes as BlobPart);
  } catch (error) {
    const reason = h("div");
    show(viewer, h("h2", {}, "Not opened"), reason);
    notice(reason, (error as Error).message, "bad");
  }
}

/** The bytes as text when they are UTF-8 without control bytes and small enough to show. */
function asText(bytes: Uint8Array): string | null {
  if (bytes.length > 256 * 1024) return null;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return /[\u0000-\u0008\u000e-\u001f]/.test(text) ? null : text;
  } catch {
    return null;
  }
}
