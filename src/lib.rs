use worker::*;
#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let _ = tollgate_core::probe;
    Response::ok("ok")
}
