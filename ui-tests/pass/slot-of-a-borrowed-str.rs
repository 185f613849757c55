use scope::{provided, scoped, slot, Config, Interrupted, Needs, Scope};

// A slot's type written as a `static`'s may be (`&str` is `&'static str` there).
slot!(static LOCALE: &str);
slot!(static GREETING: std::borrow::Cow<'_, str>);

#[scoped]
async fn greet(cx: Needs![LOCALE]) -> Result<String, Interrupted> {
    Ok(format!("{}: {}", cx.get(&LOCALE), GREETING.get().unwrap_or_default()))
}

#[scoped(slots(LOCALE = "en", GREETING = "hello".into()))]
async fn caller() -> Result<String, Interrupted> {
    greet(provided!()).await
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(caller()).unwrap(), "en: hello");
    let s = &Scope::new(Config::new().bind(&LOCALE, "fr"));
    let out = rt.block_on(s.run(async { Ok::<_, Interrupted>(LOCALE.get()) }));
    assert_eq!(out.unwrap(), Some("fr"));
}
