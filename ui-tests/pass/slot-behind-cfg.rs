// A slot declared behind a `#[cfg]` exists exactly when its cfg holds: its key type and the
// key's impl go with it (with the cfg off, the build used to fail on the slot's name).
scope::slot!(#[cfg(any())] pub static HIDDEN: String);
scope::slot!(
    #[cfg(all())]
    pub static SHOWN: u32;
    /// A deprecated slot: the macro's own use of it does not warn.
    #[deprecated = "use SHOWN"]
    pub static OLD: u32;
);

fn main() {
    assert_eq!(SHOWN.get(), None);
}
