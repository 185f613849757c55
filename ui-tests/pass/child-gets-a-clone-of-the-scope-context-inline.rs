use scope::{scoped, spawn, Cx, Interrupted};

async fn watch(cx: Cx) -> Result<bool, Interrupted> {
    Ok(cx.is_cancelled())
}

// The argument runs in the body: the child owns a `Cx`, not the scope's handle.
#[scoped(handle = s)]
async fn handler() -> Result<bool, Interrupted> {
    let c = spawn!(watch(s.cx().clone()));
    Ok(c.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(!rt.block_on(handler()).unwrap());
}
