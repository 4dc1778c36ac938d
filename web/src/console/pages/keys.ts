// Keys (admin token): the keyring's versions; rotating the master key (new envelopes)
// or the node key (registered on chain); re-wrapping stored envelopes onto the newest
// master key, and retiring older ones once nothing needs them.
import type { Context } from "../main";
import type { KeyStatus } from "../../api/client";
import { ApiError } from "../../api/client";
import { h, notice, show } from "../dom";

export async function keys(main: HTMLElement, { api }: Context): Promise<void> {
  main.append(h("h1", {}, "Keys"));
  const summary = h("section", { "aria-label": "Key versions" });
  const status = h("div", { "aria-live": "polite" });
  main.append(summary, status);
  let current: KeyStatus;
  try {
    current = await api.keys();
  } catch (error) {
    const message = error instanceof ApiError && error.status === 403 ? "Keys need an admin token." : (error as Error).message;
    notice(status, message, "bad");
    return;
  }
  const render = (keys: KeyStatus) => {
    current = keys;
    show(
      summary,
      h(
        "dl",
        { class: "receipt" },
        h("dt", {}, "Master key"), h("dd", {}, `version ${keys.master_version} (versions below ${keys.min_decrypt_version} are retired)`),
        h("dt", {}, "Node key"), h("dd", {}, `version ${keys.node_key_version} (registered on chain)`),
        h("dt", {}, "Envelopes on an older master key"), h("dd", { "data-testid": "older" }, String(keys.envelopes_on_older_master)),
      ),
    );
  };
  render(current);
  const button = (label: string, run: () => Promise<string>, tone = "secondary") => {
    const element = h("button", { type: "button", class: tone }, label);
    element.addEventListener("click", async () => {
      element.disabled = true;
      notice(status, `${label}…`);
      try {
        const done = await run();
        render(await api.keys());
        notice(status, done, "ok");
      } catch (error) {
        notice(status, (error as Error).message, "bad");
      } finally {
        element.disabled = false;
      }
    });
    return element;
  };
  const rewrap = (retire: boolean) => async () => {
    const before = current.envelopes_on_older_master;
    const bar = h("progress", { max: Math.max(before, 1), "aria-label": "Re-wrap" });
    show(status, h("p", {}, `Re-wrapping ${before} envelope(s)…`), bar);
    const answer = await api.rewrap(retire);
    bar.value = answer.rewrapped;
    const failed = answer.failed.length ? `, ${answer.failed.length} failed` : "";
    return `Re-wrapped ${answer.rewrapped} of ${before} onto master key ${answer.master_version}${failed}; versions below ${answer.min_decrypt_version} retired.`;
  };
  main.append(
    h(
      "div",
      { class: "buttons" },
      button("Rotate master key", async () => {
        const r = await api.rotate("master");
        return `Master key ${r.previous_version} → ${r.version}. Re-wrap to move stored envelopes onto it.`;
      }),
      button("Rotate node key", async () => {
        const r = await api.rotate("node");
        return `Node key ${r.previous_version} → ${r.version}${r.chain ? ` (chain: ${r.chain})` : ""}.`;
      }),
      button("Re-wrap", rewrap(false)),
      button("Re-wrap and retire older", rewrap(true), "danger"),
    ),
  );
}
