// A table of listed items with a "More" button that fetches the next page.
import { h, notice } from "../dom";

export async function pagedTable<T>(
  parent: HTMLElement,
  columns: string[],
  fetchPage: (token?: string) => Promise<{ items: T[]; next_page_token?: string | null }>,
  row: (item: T) => Node,
  empty: string,
): Promise<void> {
  const body = h("tbody");
  const table = h("table", { class: "list" }, h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))), body);
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  const status = h("div", { "aria-live": "polite" });
  parent.append(table, more, status);
  let token: string | undefined;
  const load = async () => {
    more.disabled = true;
    try {
      const page = await fetchPage(token);
      body.append(...page.items.map(row));
      token = page.next_page_token ?? undefined;
      more.hidden = !token;
      if (!body.children.length) {
        table.hidden = true;
        notice(status, empty);
      }
    } catch (error) {
      notice(status, (error as Error).message, "bad");
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", () => void load());
  await load();
}
