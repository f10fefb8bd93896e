/**
 * The edge-function example (examples/edge/main.ts): the handler called
 * directly and served on 127.0.0.1 (a free port) with real HTTP requests:
 * Deno.serve under Deno, Bun.serve under Bun.
 * @module
 */
import assert from "node:assert/strict";
import { test } from "./_test.ts";
import { handler, LIMITS, listenOptions } from "../examples/edge/main.ts";
import { spectrumSync } from "../mod.ts";

declare const Bun: {
  serve(o: { hostname: string; port: number; fetch: (r: Request) => Promise<Response> }): {
    port: number;
    stop(force?: boolean): void;
  };
} | undefined;

type Server = { url: string; close(): Promise<void> };

function serve(): Server {
  if (typeof Bun !== "undefined") {
    const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
    return { url: `http://127.0.0.1:${s.port}/`, close: () => Promise.resolve(s.stop(true)) };
  }
  const s = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { url: `http://127.0.0.1:${s.addr.port}/`, close: () => s.shutdown() };
}

/** A deterministic kernel. */
function weights(n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(1000 * Math.sin(0.7 * i + 0.3)) / 1000);
}

function median(values: Float64Array): number {
  const s = Float64Array.from(values).sort();
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

test("edge handler: good JSON, good binary, 400, 413, 405 over real HTTP on 127.0.0.1", async () => {
  const server = serve();
  try {
    // Good JSON: the summary matches the library's spectrum of the same kernel.
    const data = weights(4 * 3 * 3 * 3);
    let res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ data, shape: [4, 3, 3, 3], inputShape: [8, 6] }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const body = await res.json();
    const s = spectrumSync({ data: Float64Array.from(data), shape: [4, 3, 3, 3] }, { inputShape: [8, 6] });
    assert.equal(body.norm, s.norm);
    assert.deepEqual(body.argmax, s.argmax);
    assert.equal(body.count, 8 * 6 * 3);
    assert.deepEqual(body.shape, [8, 6, 3]);
    assert.equal(body.min, Math.min(...s.values));
    assert.equal(body.median, median(s.values));
    assert.equal(body.backend, "wasm");
    assert.equal(body.precision, "f64");
    assert.equal(typeof body.timeMs, "number");

    // Good binary: little-endian f32 with the shape in the query (hwio, stride 2).
    const f32 = Float32Array.from(weights(3 * 3 * 2 * 5));
    const bytes = new Uint8Array(f32.length * 4);
    const view = new DataView(bytes.buffer);
    f32.forEach((x, i) => view.setFloat32(4 * i, x, true));
    res = await fetch(`${server.url}?shape=3,3,2,5&inputShape=8,8&layout=hwio&stride=2`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    });
    assert.equal(res.status, 200);
    const bin = await res.json();
    const sb = spectrumSync({ data: f32, shape: [3, 3, 2, 5] }, { inputShape: [8, 8], layout: "hwio", stride: 2 });
    assert.equal(bin.norm, sb.norm);
    assert.deepEqual(bin.shape, sb.shape);

    // 400: the library's own message for a bad shape; bad JSON; odd byte count; wrong type.
    res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ data: [1, 2, 3], shape: [1, 1, 2, 2], inputShape: [4, 4] }),
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /kernel\.data\.length must equal the product of kernel\.shape/);
    res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: "{ nope" });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /not valid JSON/);
    res = await fetch(`${server.url}?shape=1,1,1,1&inputShape=2,2`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(6),
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /multiple of 4 bytes/);
    res = await fetch(server.url, { method: "POST", headers: { "content-type": "text/plain" }, body: "hi" });
    assert.equal(res.status, 400);
    assert.match(
      (await res.json()).error,
      /Content-Type must be application\/json or application\/octet-stream: current value is "text\/plain"/,
    );
    res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ data: [1, "x"], shape: [1, 1, 1, 2], inputShape: [2, 2] }),
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /array of numbers/);
    res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ data: [1, 2, 3, 4], shape: [1, 1, 2, 2], inputShape: [4, 4], padding: 1 }),
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /operatorNormBounds/);

    // 413: body over the limit (declared, and streamed without a length), input and work over theirs.
    res = await fetch(`${server.url}?shape=1,1,1,1&inputShape=2,2`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(LIMITS.bodyBytes + 4),
    });
    assert.equal(res.status, 413);
    assert.match((await res.json()).error, new RegExp(`limit is ${LIMITS.bodyBytes} bytes`));
    const chunk = new Uint8Array(1 << 20);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent > LIMITS.bodyBytes + chunk.length) return c.close();
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    res = await fetch(`${server.url}?shape=1,1,1,1&inputShape=2,2`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.match((await res.json()).error, new RegExp(`limit is ${LIMITS.bodyBytes} bytes`));
    res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ data: [1], shape: [1, 1, 1, 1], inputShape: [1024, 1024] }),
    });
    assert.equal(res.status, 413);
    assert.match((await res.json()).error, new RegExp(`limit is ${LIMITS.cells} positions`));
    // Work past the library's maxWork (its own estimate, before any work): 128 → 128 3×3 on 64×64.
    res = await fetch(`${server.url}?shape=128,128,3,3&inputShape=64,64`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(128 * 128 * 9 * 4),
    });
    assert.equal(res.status, 413);
    assert.match(
      (await res.json()).error,
      /limit is 4000000000 multiply–adds .*maxWork = 4000000000 .*current value is \d\.\d\de\+10/,
    );

    // 405 for other methods, with Allow.
    for (const method of ["GET", "PUT", "DELETE"]) {
      res = await fetch(server.url, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get("allow"), "POST");
      await res.body?.cancel();
    }
  } finally {
    await server.close();
  }
});

test("edge handler: called directly, never throws on odd requests", async () => {
  const odd = [
    new Request("http://x/", { method: "POST", headers: { "content-type": "application/json" }, body: "null" }),
    new Request("http://x/", { method: "POST", headers: { "content-type": "application/json" }, body: "[1]" }),
    new Request("http://x/", { method: "POST", headers: { "content-type": "application/json" } }),
    new Request("http://x/?shape=a&inputShape=2,2", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(4),
    }),
    new Request("http://x/?shape=1,1,1,1", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(4),
    }),
    new Request("http://x/", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ data: [1], shape: [1, 1, 1, 1], inputShape: [0, 2] }),
    }),
    new Request("http://x/", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ data: [1], shape: "1,1,1,1", inputShape: [2, 2], layout: "xyz" }),
    }),
  ];
  for (const req of odd) {
    const res = await handler(req);
    assert.equal(res.status, 400, await res.clone().text());
    assert.equal(typeof (await res.json()).error, "string");
  }
  const ok = await handler(
    new Request("http://x/", {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ data: [1, -1], shape: [1, 1, 1, 2], inputShape: [1, 2] }),
    }),
  );
  assert.equal(ok.status, 200);
  const body = await ok.json();
  assert.equal(body.norm, 2);
  assert.equal(body.min, 0);
});

/** Little-endian f32 bytes of `n` deterministic weights. */
function f32Body(n: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(n * 4);
  const view = new DataView(bytes.buffer);
  weights(n).forEach((x, i) => view.setFloat32(4 * i, x, true));
  return bytes;
}

test("edge handler: a small request issued while a large one runs is answered first", async () => {
  const server = serve();
  try {
    const done: string[] = [];
    const post = (label: string, query: string, body: Uint8Array<ArrayBuffer>) =>
      fetch(`${server.url}?${query}`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body,
      }).then(async (res) => {
        done.push(label);
        return { status: res.status, body: await res.json() };
      });
    // About a second of work (96 → 96 3×3 on 32×32, under the work limit), then a few milliseconds' worth.
    const large = post("large", "shape=96,96,3,3&inputShape=32,32", f32Body(96 * 96 * 9));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const t0 = performance.now();
    const small = await post("small", "shape=4,3,3,3&inputShape=8,6", f32Body(4 * 3 * 9));
    const smallMs = performance.now() - t0;
    const big = await large;
    assert.equal(small.status, 200, JSON.stringify(small.body));
    assert.equal(big.status, 200, JSON.stringify(big.body));
    assert.deepEqual(done, ["small", "large"], `answered in the order ${done.join(", ")}`);
    console.log(`  small answered in ${smallMs.toFixed(0)} ms while the large one ran (${big.body.timeMs} ms of work)`);
  } finally {
    await server.close();
  }
}, { timeoutMs: 60_000 });

test("edge handler: query values that are not one integer, unknown fields and the endpoint's own options are 400s naming them", async () => {
  const post = async (query: string, n = 4): Promise<[number, string]> => {
    const res = await handler(
      new Request(`http://x/?${query}`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: f32Body(n),
      }),
    );
    return [res.status, (await res.json()).error ?? ""];
  };
  const postJson = async (body: Record<string, unknown>): Promise<[number, string]> => {
    const res = await handler(
      new Request("http://x/", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ data: [1, 2, 3, 4], shape: [2, 2, 1, 1], inputShape: [4, 4], ...body }),
      }),
    );
    return [res.status, (await res.json()).error ?? ""];
  };
  const base = "shape=2,2,1,1&inputShape=4,4";
  const cases: [[number, string], RegExp][] = [
    [await post(`${base}&groups=2,2`), /^Query parameter groups must be one integer: current value is "2,2"$/],
    [await post(`${base}&groups=two`), /groups must be one integer: current value is "two"$/],
    [await post(`${base}&transposed=yes`), /transposed must be true, false, 1 or 0: current value is "yes"$/],
    [await post(`${base}&stride=1,x`), /stride must be integers separated by commas: current value is "1,x"$/],
    [await post(`${base}&stride=1&stride=2`), /stride must be given once/],
    [await post(`${base}&strides=2`), /did you mean `stride`\?\): current value is "strides"$/],
    [await post(`${base}&threads=8`), /threads is set by this endpoint .*current value is "threads"$/],
    [await postJson({ strides: 2 }), /did you mean `stride`\?\): current value is "strides"$/],
    [await postJson({ group: 2 }), /did you mean `groups`\?\): current value is "group"$/],
    [await postJson({ maxWork: 1e20 }), /maxWork is set by this endpoint/],
    [await postJson({ groups: [2, 2] }), /groups must be a positive integer: current value is \[2, 2\]/],
  ];
  for (const [[status, error], pattern] of cases) {
    assert.equal(status, 400, error);
    assert.match(error, pattern);
    assert.doesNotMatch(error, /NaN/);
  }
  // A TensorFlow kernel sent without its layout: the library says which layout to pass.
  const [status, error] = await post("shape=3,3,8,8&inputShape=6,6", 3 * 3 * 8 * 8);
  assert.equal(status, 400);
  assert.match(error, /needs layout: "hwio"/);
  assert.deepEqual((await post("shape=3,3,8,8&inputShape=6,6&layout=hwio", 3 * 3 * 8 * 8))[0], 200);
  assert.deepEqual((await post(`${base}&groups=2`))[0], 200);
});

test("edge: listens on 127.0.0.1:8000 unless --host/--port or HOST/PORT say otherwise", () => {
  const none = () => undefined;
  assert.deepEqual(listenOptions([], none), { hostname: "127.0.0.1", port: 8000 });
  assert.deepEqual(listenOptions(["--host", "0.0.0.0", "--port=9000"], none), { hostname: "0.0.0.0", port: 9000 });
  const env = (name: string) => ({ HOST: "::1", PORT: "8080" } as Record<string, string>)[name];
  assert.deepEqual(listenOptions([], env), { hostname: "::1", port: 8080 });
  assert.deepEqual(listenOptions(["--port", "0"], env), { hostname: "::1", port: 0 });
  assert.throws(
    () => listenOptions(["--port", "http"], none),
    /port must be an integer from 0 to 65535: current value is "http"/,
  );
  assert.throws(() => listenOptions([], () => "70000"), RangeError);
});
