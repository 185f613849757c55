//! `use scope::*;` brings in what users name and nothing that shadows the standard prelude: a
//! glob import takes precedence over the prelude, so an item of the facade named like a
//! prelude trait (a hidden `Extend`, once) broke `impl Extend<u8> for ..` in the user's code.
//! Every prelude trait and type below is named unqualified, under the glob. (`#[test]` itself
//! is ambiguous with `scope::test` under a glob import, as with `use tokio::*;`: write
//! `#[scope::test]` or `#[tokio::test]`.)

use scope::*;

#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct Bag(Vec<u8>);

impl Extend<u8> for Bag {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl FromIterator<u8> for Bag {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        Bag(iter.into_iter().collect())
    }
}

impl IntoIterator for Bag {
    type Item = u8;
    type IntoIter = std::vec::IntoIter<u8>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<Vec<u8>> for Bag {
    fn from(v: Vec<u8>) -> Self {
        Bag(v)
    }
}

impl AsRef<[u8]> for Bag {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for Bag {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {}
}

fn uses_the_prelude<F: FnOnce() -> Option<Box<str>> + Send + Sync + Unpin>(
    f: F,
) -> Result<String, Box<str>> {
    let s: String = f().ok_or_else(|| Box::from("none"))?.to_string();
    let n: u8 = TryFrom::try_from(s.len()).map_err(|_| Box::<str>::from("long"))?;
    let _: u16 = n.into();
    let _ = (n.to_owned(), [1u8].iter().rev().len());
    Ok(s)
}

#[scope::test]
async fn the_glob_import_shadows_nothing_of_the_prelude() {
    let _guard = Guard;
    let mut bag: Bag = vec![1u8].into();
    bag.extend([2, 3]);
    assert_eq!(bag.as_ref(), &[1, 2, 3]);
    assert_eq!(bag.clone().into_iter().collect::<Bag>(), bag);
    assert_eq!(
        uses_the_prelude(|| Some(Box::from("ok"))).as_deref(),
        Ok("ok")
    );
    // And the glob brings what users name.
    let total = scope!({
        let one = spawn!(async { Ok::<u8, Interrupted>(1) });
        Ok::<u8, Interrupted>(one.await? + 1)
    })
    .await;
    assert_eq!(total, Ok(2));
    assert!(!Cx::current().is_cancelled());
}
