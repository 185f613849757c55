// `slot!` declares the static and its key; `Needs![..]` is the proof type a caller must give;
// `provided!()` narrows the body's proof to it.
slot!(pub static REQUEST_ID: String; static TENANT: String);

#[scoped(slots(TENANT = t))]
async fn middleware(t: String, cx: Needs![REQUEST_ID]) -> Result<String, AppError> {
    handler(provided!()).await
}

#[scoped]
async fn handler(cx: Needs![REQUEST_ID, TENANT]) -> Result<String, AppError> {
    Ok(cx.get(&TENANT).clone())
}
