//! Code layout for a new isolate's first request.
//!
//! V8 compiles a wasm function whole, the first time it is called (Liftoff, lazily), and in a
//! new isolate that compilation is most of the first request's CPU (bench/README.md, "What a
//! first request compiles"). An awaited `async fn` is normally inlined into its caller's state
//! machine, so a `match` over credential kinds, or a router, becomes one large function that
//! every first request compiles in full although it runs one branch. Boxing a branch's future
//! behind a vtable keeps its code in functions of its own, compiled only when that branch runs,
//! for one allocation per request.
//!
//! For plain (not async) code such as a refusal's wording, put the function in a module named
//! `cold` with `#[cold] #[inline(never)]` (as `token_service::flow::cold`): both wasm-opt runs
//! (scripts/build.sh, Cargo.toml) mark `*::cold::*` no-inline, since binaryen otherwise merges
//! any single-caller function back into its caller whatever `#[inline(never)]` told LLVM.

use std::future::Future;
use std::pin::Pin;

/// `f` boxed behind a vtable, so LLVM cannot inline its state machine into the caller's.
pub fn out_of_line<'a, T>(
    f: impl Future<Output = T> + 'a,
) -> Pin<Box<dyn Future<Output = T> + 'a>> {
    Box::pin(f)
}
