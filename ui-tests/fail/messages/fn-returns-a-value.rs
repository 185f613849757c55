use scope::scoped;

#[scoped]
async fn answer() -> u32 {
    42
}

fn main() {}
