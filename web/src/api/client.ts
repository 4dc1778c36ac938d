// The relay's REST API for the browser, typed with the schema generated from the relay's
// OpenAPI description (schema.d.ts). Every failure is an ApiError with the relay's error
// code and message, so pages show what the relay said, not a status number.
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type ListedShare = Schemas["ListedShare"];
export type ListResponse = Schemas["ListResponse"];
export type DirectoryNode = Schemas["DirectoryNode"];
export type ProofRecord = Schemas["ProofRecord"];
export type VerifyResponse = Schemas["VerifyResponse"];
export type ShareDataResponse = Schemas["ShareDataResponse"];
export type ChangeResponse = Schemas["ChangeResponse"];
export type KeyStatus = Schemas["KeyStatus"];
export type RotateResponse = Schemas["RotateResponse"];
export type RewrapResponse = Schemas["RewrapResponse"];
export type Health = Schemas["Health"];
export type ContractInfo = Schemas["ContractInfo"];
export type Direction = Schemas["Direction"];

/** A refusal or failure, with the relay's error code when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Bytes read so far and the total, when known. */
export type Progress = (done: number, total: number | null) => void;

/** A download whose bytes hash to what the relay announced (and what was asked for). */
export interface Download {
  bytes: Uint8Array;
  sha256: string;
  sender: string | null;
}

export class RelayApi {
  constructor(
    private readonly token: string,
    private readonly base = "",
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: this.headers(body === undefined ? {} : { "content-type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "unreachable", "the relay cannot be reached");
    }
    if (!response.ok) throw await errorOf(response);
    return (await response.json()) as T;
  }

  health(): Promise<Health> {
    return this.call("GET", "/healthz");
  }

  list(direction: Direction, params: Record<string, string> = {}): Promise<ListResponse> {
    return this.call("GET", `/data/list?${new URLSearchParams({ direction, ...params })}`);
  }

  nodes(pageToken?: string): Promise<Schemas["NodesResponse"]> {
    const query = new URLSearchParams({ limit: "500" });
    if (pageToken) query.set("page_token", pageToken);
    return this.call("GET", `/nodes?${query}`);
  }

  verify(hash: string, pageToken?: string): Promise<VerifyResponse> {
    const query = new URLSearchParams({ limit: "500" });
    if (pageToken) query.set("page_token", pageToken);
    return this.call("GET", `/verify_data/${encodeURIComponent(hash)}?${query}`);
  }

  revoke(shareId: string): Promise<ChangeResponse> {
    return this.call("POST", `/shares/${encodeURIComponent(shareId)}/revoke`);
  }

  setExpiry(shareId: string, expiresAt: string | null): Promise<ChangeResponse> {
    return this.call("PUT", `/shares/${encodeURIComponent(shareId)}/expiry`, { expires_at: expiresAt });
  }

  pay(shareId: string): Promise<ChangeResponse> {
    return this.call("POST", `/shares/${encodeURIComponent(shareId)}/pay`);
  }

  keys(): Promise<KeyStatus> {
    return this.call("GET", "/admin/keys");
  }

  rotate(key: Schemas["KeyKind"]): Promise<RotateResponse> {
    return this.call("POST", "/admin/keys/rotate", { key });
  }

  rewrap(retireOlder: boolean): Promise<RewrapResponse> {
    return this.call("POST", "/admin/keys/rewrap", { retire_older: retireOlder });
  }

  /** Shares `data` (raw bytes) with `recipient`; `progress` follows the upload. */
  share(
    data: Blob,
    options: { recipient: string; price: string; expiresAt: string | null },
    progress: Progress,
  ): Promise<ShareDataResponse> {
    const query = new URLSearchParams({ recipient: options.recipient });
    const priced = options.price !== "" && options.price !== "0";
    query.set("require_payment", String(priced));
    if (priced) query.set("price", options.price);
    if (options.expiresAt) query.set("expires_at", options.expiresAt);
    // fetch() cannot report upload progress; XMLHttpRequest can.
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", `${this.base}/share_data?${query}`);
      for (const [name, value] of Object.entries(this.headers({ "content-type": "application/octet-stream" }))) {
        request.setRequestHeader(name, value);
      }
      request.upload.onprogress = (event) => progress(event.loaded, event.lengthComputable ? event.total : null);
      request.onerror = () => reject(new ApiError(0, "unreachable", "the relay cannot be reached"));
      request.onload = () => {
        let body: unknown = null;
        try {
          body = JSON.parse(request.responseText);
        } catch {
          /* not JSON: reported below */
        }
        if (request.status >= 200 && request.status < 300 && body) resolve(body as ShareDataResponse);
        else reject(errorFromBody(request.status, body));
      };
      request.send(data);
    });
  }

  /**
   * Reads the data with `hash` as raw bytes, following `progress`, and checks them
   * against the hash asked for before handing them over: bytes that do not match are
   * never returned.
   */
  async download(hash: string, progress: Progress, sender?: string): Promise<Download> {
    const query = sender ? `?${new URLSearchParams({ sender })}` : "";
    let response: Response;
    try {
      response = await fetch(`${this.base}/data/${encodeURIComponent(hash)}${query}`, {
        headers: this.headers({ accept: "application/octet-stream" }),
      });
    } catch {
      throw new ApiError(0, "unreachable", "the relay cannot be reached");
    }
    if (!response.ok || !response.body) throw await errorOf(response);
    const total = Number(response.headers.get("content-length")) || null;
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let done = 0;
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      chunks.push(next.value);
      done += next.value.length;
      progress(done, total);
    }
    const bytes = new Uint8Array(done);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    const sha256 = `sha256:${await sha256Hex(bytes)}`;
    if (sha256 !== hash) {
      throw new ApiError(502, "bad_gateway", `the bytes received hash to ${sha256}, not ${hash}`);
    }
    return { bytes, sha256, sender: response.headers.get("x-dmn-sender") };
  }
}

/** Hex SHA-256 of `bytes`, by the browser's own implementation. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function errorOf(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON */
  }
  return errorFromBody(response.status, body);
}

function errorFromBody(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
  return new ApiError(status, error?.code ?? "http_" + status, error?.message ?? `the relay answered ${status}`);
}
