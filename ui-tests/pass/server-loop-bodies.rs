// A body that never ends on its own (a server's accept loop) may use `?`: its value is the
// fn's. A loop that something breaks out of is left as it is.
use scope::{scoped, spawn, Interrupted};

#[scoped]
async fn serve() -> Result<(), Interrupted> {
    let mut n = 0u32;
    loop {
        scope::check()?;
        n += 1;
        if n > 3 {
            scope::Cx::current().cancel("done");
        }
    }
}

// Supervised (one failed connection must not cancel the others), the same: the body's value
// is the fn's `Result<T, Failures<E>>` taken to `Result<T, E>`.
#[scoped(policy = supervise)]
async fn serve_supervised() -> Result<(), scope::Failures<Interrupted>> {
    let mut n = 0u32;
    loop {
        scope::check()?;
        n += 1;
        if n > 3 {
            scope::Cx::current().cancel("done");
        }
    }
}

#[scoped]
async fn serve_until_told(stop: tokio::sync::oneshot::Receiver<()>) -> Result<(), Interrupted> {
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            () = tokio::task::yield_now() => scope::check()?,
        }
    }
    Ok(())
}

#[scoped]
async fn labelled() -> Result<u32, Interrupted> {
    let mut n = 0;
    'outer: loop {
        for i in 0..10 {
            scope::check()?;
            n += i;
            if n > 20 {
                break 'outer;
            }
        }
    }
    Ok(n)
}

#[scoped]
async fn unfinished() -> Result<u32, Interrupted> {
    scope::check()?;
    todo!()
}

// A body whose last statement diverges, with its semicolon, or whose `match` or `if` diverges
// in every branch: the same (they failed with "type mismatch resolving `<() as
// BodyOutput<Interrupted>>::Ok == u32`", pointing at the attribute).
#[scoped]
async fn unfinished_statement() -> Result<u32, Interrupted> {
    todo!("later");
}

#[scoped]
async fn early_or_panic(early: bool) -> Result<u32, Interrupted> {
    if early {
        return Ok(7);
    }
    panic!("not early");
}

#[scoped]
async fn unit_then_unreachable() -> Result<(), Interrupted> {
    scope::check()?;
    unreachable!();
}

#[scoped]
async fn every_arm(n: u8) -> Result<u32, Interrupted> {
    match n {
        0 => return Ok(0),
        _ => panic!("{n}"),
    }
}

#[scoped]
async fn both_branches(n: u8) -> Result<u32, Interrupted> {
    if n == 0 {
        return Ok(0);
    } else {
        unimplemented!("{n}");
    }
}

#[scoped(policy = supervise)]
async fn supervised_statement() -> Result<u32, scope::Failures<Interrupted>> {
    todo!();
}

// A race's body never gives the result (the winner's value does): one that is only a stub, or
// that starts its candidates and then waits for ever, is said to be of the body's type
// (`todo!()` alone failed with rustc's "this function depends on never type fallback being
// `()`").
#[scoped(policy = first_ok)]
async fn race_not_written_yet() -> Result<u32, scope::Failures<Interrupted>> {
    todo!()
}

#[scoped(policy = first_ok)]
async fn race_body_waits() -> Result<u32, scope::Failures<Interrupted>> {
    spawn!(async { Ok(5) });
    loop {
        tokio::task::yield_now().await;
    }
}

// A body that ends by matching a value that cannot exist (`match x {}`): a server child whose
// handle's value cannot exist, taken with `?`, as a plain async fn may end (under edition 2024
// a child that loops for ever gives such a handle, `Child<'_, Never>`). Refused before with
// "type mismatch resolving `<! as BodyOutput<Interrupted>>::Ok == ()`" at the attribute.
async fn serve_for_ever(stop_after: u32) -> Result<std::convert::Infallible, Interrupted> {
    let mut n = 0;
    loop {
        n += 1;
        if n > stop_after {
            scope::Cx::current().cancel("server stopped");
        }
        scope::check()?;
        tokio::task::yield_now().await;
    }
}

#[scoped]
async fn until_the_server_fails() -> Result<(), Interrupted> {
    let server = spawn!(serve_for_ever(3));
    match server.await? {}
}

#[scoped(policy = supervise)]
async fn until_the_server_fails_supervised() -> Result<u8, scope::Failures<Interrupted>> {
    let server = spawn!(serve_for_ever(0));
    match server.await? {}
}

#[scope::main]
async fn main() -> Result<(), Interrupted> {
    assert_eq!(early_or_panic(true).await?, 7);
    assert_eq!(every_arm(0).await?, 0);
    assert_eq!(both_branches(0).await?, 0);
    let _ = (unfinished_statement, unit_then_unreachable, supervised_statement);
    let _ = race_not_written_yet;
    assert_eq!(race_body_waits().await.ok(), Some(5));
    assert!(serve().await.is_err());
    assert!(serve_supervised().await.is_err());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tx.send(()).unwrap();
    serve_until_told(rx).await?;
    assert_eq!(labelled().await?, 21);
    assert!(until_the_server_fails().await.is_err());
    assert!(until_the_server_fails_supervised().await.is_err());
    let _ = unfinished;
    let mut n = 0u32;
    loop {
        scope::check().or_else(|_| Ok::<_, Interrupted>(()))?;
        n += 1;
        if n == 3 {
            return Ok(());
        }
    }
}
