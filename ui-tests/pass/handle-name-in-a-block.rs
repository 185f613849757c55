use scope::{scoped, Interrupted};

// `handle = s` on a block names the handle of each fn the block scopes: a sync helper's own
// parameter `s` is its own business.
struct Words;

#[scoped(handle = s)]
impl Words {
    async fn count_all(&self) -> Result<usize, Interrupted> {
        assert!(!s.is_closed());
        Ok(Self::count("a b c"))
    }

    fn count(s: &str) -> usize {
        s.split(' ').count()
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(Words.count_all()).ok(), Some(3));
}
