//! Baseline for bench/token.sh: the cheapest possible workers-rs response, so the throughput of
//! this worker is what the runtime + workers-rs glue + the load generator cost on this machine.

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    Response::ok("ok")
}
