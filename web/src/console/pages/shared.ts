// Shared: what this node shared, newest first, with where each share stands. The owner
// revokes or changes the expiry here; "Details" shows who paid and every key release,
// from the on-chain records the relay indexed.
import type { Context } from "../main";
import type { ListedShare, ProofRecord } from "../../api/client";
import { h, localInputToRfc3339, notice, short, show, statusBadge, when } from "../dom";
import { pagedTable } from "./table";
import { allRecords, describe } from "./records";

export async function shared(main: HTMLElement, { api }: Context): Promise<void> {
  const status = h("div", { "aria-live": "polite" });
  main.append(h("h1", {}, "Shared"), h("p", { class: "lead" }, "Data this node shared, and where each share stands."), status);
  const columns = ["Shared", "With", "Data", "Price", "Expires", "Status", "Actions"];
  const row = (item: ListedShare) => {
    const statusCell = h("td", { "data-label": "Status" }, statusBadge(item.status ?? "unknown"));
    const expiresCell = h("td", { "data-label": "Expires" }, when(item.expires_at));
    const details = h("tr", { class: "details", hidden: true }, h("td", { colspan: 7 }));
    const actions = h("div", { class: "actions" });
    const live = item.status === "active" || item.status === "pending";
    if (live) {
      const revoke = h("button", { type: "button", class: "danger" }, "Revoke");
      revoke.addEventListener("click", async () => {
        if (!confirm(`Revoke ${item.share_id}? The recipient will be refused from the next block.`)) return;
        revoke.disabled = true;
        try {
          const change = await api.revoke(item.share_id);
          show(statusCell, statusBadge("revoked"));
          notice(status, `Revoked in block ${change.compliance.block_number} (transaction ${change.compliance.tx_hash}).`, "ok");
          revoke.remove();
          expiry.remove();
        } catch (error) {
          revoke.disabled = false;
          notice(status, (error as Error).message, "bad");
        }
      });
      const input = h("input", { type: "datetime-local", "aria-label": `New expiry of ${item.share_id}` });
      const set = h("button", { type: "button", class: "secondary" }, "Set expiry");
      set.addEventListener("click", async () => {
        set.disabled = true;
        try {
          const at = localInputToRfc3339(input.value);
          const change = await api.setExpiry(item.share_id, at);
          show(expiresCell, when(at));
          notice(status, `Expiry ${at ? "set" : "removed"} in block ${change.compliance.block_number}.`, "ok");
        } catch (error) {
          notice(status, (error as Error).message, "bad");
        } finally {
          set.disabled = false;
        }
      });
      const expiry = h("span", { class: "inline" }, input, set);
      actions.append(revoke, expiry);
    }
    const more = h("button", { type: "button", class: "link", "aria-expanded": "false" }, "Details");
    more.addEventListener("click", async () => {
      const open = details.hidden;
      details.hidden = !open;
      more.setAttribute("aria-expanded", String(open));
      if (open) await showDetails(details.firstElementChild as HTMLElement, item, api);
    });
    actions.append(more, h("a", { href: `#/audit?hash=${encodeURIComponent(item.data_hash)}` }, "Proof"));
    const tr = h(
      "tr",
      { "data-share": item.share_id },
      h("td", { "data-label": "Shared" }, when(item.shared_at)),
      h("td", { "data-label": "With" }, h("code", {}, item.recipient)),
      h("td", { "data-label": "Data" }, short(item.data_hash, 14)),
      h("td", { "data-label": "Price" }, item.price === "0" ? "free" : item.price),
      expiresCell,
      statusCell,
      h("td", {}, actions),
    );
    const group = document.createDocumentFragment();
    group.append(tr, details);
    return group;
  };
  await pagedTable(main, columns, (token) => api.list("shared", token ? { page_token: token } : {}), row, "This node has not shared anything yet.");
}

async function showDetails(cell: HTMLElement, item: ListedShare, api: Context["api"]): Promise<void> {
  show(cell, "Reading the on-chain records…");
  try {
    const records = (await allRecords(api, item.data_hash)).filter((r) => r.share_id === item.share_id);
    const paid = records.filter((r) => r.action.kind === "paid");
    const released = records.filter((r) => r.action.kind === "key_released");
    show(
      cell,
      h("p", {}, `Share ${item.share_id}: ${paid.length} payment(s), ${released.length} key release(s).`),
      records.length ? h("ul", { class: "timeline" }, ...records.map(line)) : h("p", {}, "No records indexed yet (blocks become final within seconds)."),
    );
  } catch (error) {
    notice(cell, (error as Error).message, "bad");
  }
}

function line(record: ProofRecord): HTMLElement {
  return h("li", {}, h("strong", {}, record.action.kind), ` — ${describe(record)} · block ${record.block_number} · `, short(record.tx_hash, 8));
}
