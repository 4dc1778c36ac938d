// The web console: asks for an API token once (kept for this tab only, in
// sessionStorage), then shows the page the address's hash names. Every page talks to
// this relay's REST API with that token; nothing else is stored in the browser.
import "./style.css";
import { ApiError, RelayApi } from "../api/client";
import { h, notice, show } from "./dom";
import { inbox } from "./pages/inbox";
import { shared } from "./pages/shared";
import { sharePage } from "./pages/share";
import { audit } from "./pages/audit";
import { keys } from "./pages/keys";

export interface Context {
  api: RelayApi;
  nodeId: string;
  /** Query parameters of the current page (`#/audit?hash=…`). */
  params: URLSearchParams;
}

type Page = (main: HTMLElement, context: Context) => Promise<void>;

const pages: [string, string, Page][] = [
  ["inbox", "Inbox", inbox],
  ["shared", "Shared", shared],
  ["share", "Share", sharePage],
  ["audit", "Audit", audit],
  ["keys", "Keys", keys],
];

const TOKEN_KEY = "datamgmt.token";
const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;

async function start(): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return askForToken();
  const api = new RelayApi(token);
  let nodeId: string;
  try {
    // A token the relay refuses is asked for again.
    await api.list("shared", { limit: "1" });
    nodeId = (await api.health()).node_id;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return askForToken("The relay did not accept that token.");
    }
    const status = h("div");
    show(main, h("h1", {}, "DataMgmt Node"), status, h("button", { type: "button", onclick: signOut }, "Use another token"));
    notice(status, error instanceof Error ? error.message : String(error), "bad");
    return;
  }
  document.getElementById("node-id")!.textContent = nodeId;
  const render = async () => {
    const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
    const entry = pages.find(([name]) => name === path) ?? pages[0];
    show(
      nav,
      ...pages.map(([name, label]) =>
        h("a", { href: `#/${name}`, "aria-current": name === entry[0] ? "page" : undefined }, label),
      ),
      h("a", { href: "/dapp.html" }, "dApp"),
      h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
    );
    document.title = `${entry[1]} · DataMgmt Node`;
    // Each page draws into a view of its own: one still loading when another is chosen
    // draws into a view no longer shown.
    const view = h("div");
    main.replaceChildren(view);
    try {
      await entry[2](view, { api, nodeId, params: new URLSearchParams(query ?? "") });
    } catch (error) {
      const box = h("div");
      view.append(box);
      notice(box, error instanceof Error ? error.message : String(error), "bad");
    }
  };
  window.addEventListener("hashchange", () => void render());
  await render();
}

function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "";
  location.reload();
}

function askForToken(problem?: string): void {
  nav.replaceChildren();
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card narrow" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Enter this relay's API token. It is kept for this tab only."),
    h("label", { for: "token" }, "API token"),
    input,
    h("button", { type: "submit" }, "Continue"),
    status,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    void start();
  });
  show(main, form);
  if (problem) notice(status, problem, "bad");
  input.focus();
}

void start();
