// Raw JSON-RPC calls to a Manager over HTTP, for tests that look at the reply envelope itself.

/** The JSON-RPC reply: `result`, or `error` with xapi's code in `data`. */
export interface JsonRpcReply {
  result?: unknown;
  error?: { message: string; data: unknown[] };
}

/** A caller posting JSON-RPC 2.0 requests (ids 1, 2, …) to `${baseUrl}/jsonrpc`. */
export function jsonRpcCaller(baseUrl: string) {
  let id = 0;
  return async (method: string, params: unknown[]): Promise<JsonRpcReply> => {
    const res = await fetch(`${baseUrl}/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    return (await res.json()) as JsonRpcReply;
  };
}
