// A body that never ends on its own (a server's accept loop) may use `?`: its value is the
// fn's. A loop that something breaks out of is left as it is.
use scope::{scoped, Interrupted};

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

#[scope::main]
async fn main() -> Result<(), Interrupted> {
    assert!(serve().await.is_err());
    assert!(serve_supervised().await.is_err());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tx.send(()).unwrap();
    serve_until_told(rx).await?;
    assert_eq!(labelled().await?, 21);
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
