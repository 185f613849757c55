//! The expansions are hygienic: they use absolute paths through the facade's `__private`, and
//! their own bindings (`__scope`, the runtime, the leak check) use `Span::mixed_site()`. This
//! crate shadows `core`, `std`, `tokio`, `Result`, `Option`, `Ok`, `Err`, `Some`, `None`,
//! `Box`, `Duration`, `Config` and `Scope`, and names its own variables `__scope`, `scope`,
//! `__rt` and `__leaks`; every macro still expands and runs.
#![allow(dead_code, non_camel_case_types, clippy::all, clippy::pedantic)]

mod core {}
mod std {}
mod tokio {}

struct Result;
struct Option;
struct Ok;
struct Err;
struct Some;
struct None;
struct Box;
struct Duration;
struct Config;
struct Scope;
struct Future;

type R<T> = ::core::result::Result<T, ::scope::Interrupted>;

::scope::slot!(static REQUEST_ID: ::std::string::String);

#[::scope::scoped(name = "hygiene", limit = 2, timeout = 5s, grace = 1ms, slots(REQUEST_ID = id))]
async fn every_option(id: ::std::string::String) -> R<usize> {
    // User variables with the macro's names: the hidden ones cannot be seen or shadowed.
    let __scope = 1_usize;
    let scope = 2_usize;
    let a = ::scope::spawn!(async move { ::core::result::Result::Ok(__scope + scope) });
    let b = ::scope::spawn_in_place!(name = "b", async {
        ::core::result::Result::Ok(REQUEST_ID.get().map_or(0, |s| s.len()))
    });
    ::core::result::Result::Ok(a.await? + b.await?)
}

#[::scope::scoped(policy = supervise)]
async fn supervised() -> ::core::result::Result<(), ::scope::Failures<::scope::Interrupted>> {
    let _ = ::scope::spawn!(async { ::core::result::Result::Ok::<(), ::scope::Interrupted>(()) });
    ::core::result::Result::Ok(())
}

#[::scope::scoped(policy = first_ok, local)]
async fn raced() -> ::core::result::Result<u8, ::scope::Failures<::scope::Interrupted>> {
    let _ = ::scope::spawn_in_place!(async {
        ::core::result::Result::Ok::<u8, ::scope::Interrupted>(7)
    });
    ::core::result::Result::Ok(())
}

struct Service;

#[::scope::scoped]
impl Service {
    async fn call(&self) -> R<u8> {
        ::core::result::Result::Ok(::scope::spawn!(async { ::core::result::Result::Ok(3) }).await?)
    }
}

#[::scope::test]
async fn expansions_run_with_everything_shadowed() {
    let __rt = 0;
    let __leaks = 0;
    let __out = 0;
    let v = every_option(::std::string::String::from("abcd")).await;
    ::core::assert_eq!(v.ok(), ::core::option::Option::Some(3 + 4));
    ::core::assert!(supervised().await.is_ok());
    ::core::assert_eq!(raced().await.ok(), ::core::option::Option::Some(7));
    ::core::assert_eq!(Service.call().await.ok(), ::core::option::Option::Some(3));
    let total = ::scope::scope!(limit = 1, {
        let c =
            ::scope::spawn!(async { ::core::result::Result::Ok::<u8, ::scope::Interrupted>(1) });
        ::core::result::Result::Ok::<u8, ::scope::Interrupted>(c.await?)
    })
    .await;
    ::core::assert_eq!(total.ok(), ::core::option::Option::Some(1));
    let _ = (__rt, __leaks, __out);
}
