// Offline stand-in for `readLines` from https://deno.land/std@0.186.0/io/mod.ts.
// DSPy's Pyodide runner imports that module by URL only for this one function; the rlmdj
// sandbox maps the URL here through an import map so the sandbox starts without network.
// Yields the lines read from `reader` (anything with `read(Uint8Array)`), without the
// trailing "\n" or "\r\n", and a final unterminated line if there is one.

export async function* readLines(reader, decoderOpts) {
  const decoder = new TextDecoder(decoderOpts?.encoding ?? "utf-8", decoderOpts);
  const chunk = new Uint8Array(64 * 1024);
  let pending = "";
  while (true) {
    const n = await reader.read(chunk);
    if (n === null) break;
    pending += decoder.decode(chunk.subarray(0, n), { stream: true });
    let start = 0;
    let newline;
    while ((newline = pending.indexOf("\n", start)) !== -1) {
      let line = pending.slice(start, newline);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      start = newline + 1;
      yield line;
    }
    pending = pending.slice(start);
  }
  pending += decoder.decode();
  if (pending.length > 0) yield pending.endsWith("\r") ? pending.slice(0, -1) : pending;
}
