// Share: a file dropped or chosen, or text typed, sent to a node picked from the
// directory, with a price per access and an expiry; the upload shows its progress and
// the receipt names the block and transaction that recorded the share.
import type { Context } from "../main";
import type { DirectoryNode } from "../../api/client";
import { bytes, h, localInputToRfc3339, notice, progressBar, show } from "../dom";

/** The recipient list shows at most this many nodes of the directory. */
const MAX_NODES = 5000;

export async function sharePage(main: HTMLElement, { api, nodeId }: Context): Promise<void> {
  const nodes: DirectoryNode[] = [];
  let directoryProblem: string | null = null;
  try {
    let token: string | undefined;
    do {
      const page = await api.nodes(token);
      nodes.push(...page.items.filter((node) => !node.this_node && node.node_id !== nodeId));
      token = page.next_page_token ?? undefined;
    } while (token && nodes.length < MAX_NODES);
    if (token) directoryProblem = `The directory lists more than ${MAX_NODES} nodes; only the first are shown.`;
  } catch (error) {
    directoryProblem = `The directory could not be read: ${(error as Error).message}`;
  }

  let file: File | null = null;
  const fileInput = h("input", { id: "file", type: "file", class: "visually-hidden" });
  const chosen = h("span", { class: "chosen" }, "No file chosen");
  const drop = h(
    "div",
    { class: "drop", tabindex: 0, role: "button", "aria-describedby": "drop-help" },
    h("strong", {}, "Drop a file here"),
    h("span", { id: "drop-help" }, " or press Enter to choose one"),
    h("br"),
    chosen,
  );
  const choose = (picked: File | null) => {
    file = picked;
    chosen.textContent = picked ? `${picked.name} (${bytes(picked.size)})` : "No file chosen";
  };
  fileInput.addEventListener("change", () => choose(fileInput.files?.[0] ?? null));
  drop.addEventListener("click", () => fileInput.click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      fileInput.click();
    }
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer?.files[0] ?? null);
  });

  const text = h("textarea", { id: "text", rows: 4, placeholder: "…or type the text to share" });
  const recipient = h(
    "select",
    { id: "recipient", required: true },
    h("option", { value: "" }, nodes.length ? "Choose a node" : "No other node is registered yet"),
    ...nodes.map((node) => h("option", { value: node.node_id }, `${node.node_id} — ${node.endpoint}`)),
  );
  const price = h("input", { id: "price", type: "text", inputmode: "numeric", value: "0", pattern: "[0-9]+" });
  const expires = h("input", { id: "expires", type: "datetime-local" });
  const submit = h("button", { type: "submit" }, "Encrypt and share");
  const status = h("div", { "aria-live": "polite" });
  const receipt = h("section", { "aria-label": "Receipt" });
  const form = h(
    "form",
    { class: "card" },
    h("label", { for: "file" }, "File"),
    drop,
    fileInput,
    h("label", { for: "text" }, "Text"),
    text,
    h("label", { for: "recipient" }, "Recipient"),
    recipient,
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "price" }, "Price per access"), price, h("small", {}, "0 = free; in the chain's smallest unit")),
      h("div", {}, h("label", { for: "expires" }, "Expires (optional)"), expires),
    ),
    submit,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data: Blob | null = file ?? (text.value ? new Blob([text.value], { type: "text/plain" }) : null);
    if (!data) return notice(status, "Choose a file or type some text.", "bad");
    if (!recipient.value) return notice(status, "Choose the recipient.", "bad");
    if (!/^[0-9]+$/.test(price.value)) return notice(status, "The price is a whole number (0 for free).", "bad");
    submit.disabled = true;
    const bar = progressBar("Upload");
    show(status, h("p", {}, "Encrypting and uploading…"), bar.element);
    try {
      const shared = await api.share(
        data,
        { recipient: recipient.value, price: price.value, expiresAt: localInputToRfc3339(expires.value) },
        bar.update,
      );
      notice(status, "Shared.", "ok");
      const c = shared.compliance;
      show(
        receipt,
        h("h2", {}, "Receipt"),
        h(
          "dl",
          { class: "receipt" },
          h("dt", {}, "Share"), h("dd", {}, h("code", {}, shared.share_id)),
          h("dt", {}, "Data hash"), h("dd", {}, h("code", {}, shared.data_hash)),
          h("dt", {}, "Block"), h("dd", {}, String(c.block_number), " ", h("code", {}, c.block_hash)),
          h("dt", {}, "Transaction"), h("dd", {}, h("code", {}, c.tx_hash)),
        ),
        h("a", { href: `#/audit?hash=${encodeURIComponent(shared.data_hash)}` }, "See the on-chain proof"),
      );
      form.reset();
      choose(null);
    } catch (error) {
      notice(status, (error as Error).message, "bad");
    } finally {
      submit.disabled = false;
    }
  });
  main.append(h("h1", {}, "Share"), h("p", { class: "lead" }, "Encrypted here, stored as ciphertext, its key released only as the contract allows."), form, receipt);
  if (directoryProblem) notice(status, directoryProblem, "bad");
}
