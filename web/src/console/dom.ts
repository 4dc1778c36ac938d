// Small DOM helpers: elements built from tag, attributes and children (text is always
// set as text, never parsed as HTML), and the formats every page shares.

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | boolean | number | EventListener | undefined>;

/** An element with `attributes` (`on…` ones are listeners) and `children`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `parent` shows. */
export function show(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A time as the reader's locale writes it, or a dash. */
export function when(rfc3339: string | null | undefined): string {
  if (!rfc3339) return "—";
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime()) ? rfc3339 : date.toLocaleString();
}

/** The first and last characters of a long identifier, whole in its title. */
export function short(id: string, keep = 10): HTMLElement {
  const text = id.length > keep * 2 + 1 ? `${id.slice(0, keep)}…${id.slice(-6)}` : id;
  return h("code", { title: id }, text);
}

/** A status word as a coloured badge. */
export function badge(text: string, tone: "ok" | "warn" | "bad" | "info" | "quiet" = "quiet"): HTMLElement {
  return h("span", { class: `badge ${tone}` }, text);
}

export function statusBadge(status: string): HTMLElement {
  const tone = { active: "ok", pending: "info", expired: "warn", revoked: "bad" }[status] as
    | "ok"
    | "info"
    | "warn"
    | "bad"
    | undefined;
  return badge(status, tone ?? "quiet");
}

/** A progress bar and its text, updated by the returned function. */
export function progressBar(label: string): { element: HTMLElement; update: (done: number, total: number | null) => void } {
  const bar = h("progress", { max: 1, value: 0, "aria-label": label });
  const text = h("span", { class: "progress-text" }, "");
  const update = (done: number, total: number | null) => {
    if (total) {
      bar.max = total;
      bar.value = done;
      text.textContent = `${bytes(done)} of ${bytes(total)}`;
    } else {
      bar.removeAttribute("value");
      text.textContent = bytes(done);
    }
  };
  return { element: h("div", { class: "progress" }, bar, text), update };
}

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / 1024 / 1024).toFixed(1)} MiB`;
}

/** A message in the page's live region (read out by screen readers). */
export function notice(target: Element, text: string, tone: "ok" | "bad" | "info" = "info"): void {
  show(target, h("p", { class: `notice ${tone}`, role: tone === "bad" ? "alert" : "status" }, text));
}

/** An RFC 3339 time from a `datetime-local` input's value (local time), or null. */
export function localInputToRfc3339(value: string): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** Saves `data` as a file named `name` through the browser's download. */
export function saveFile(name: string, data: BlobPart, type = "application/octet-stream"): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
