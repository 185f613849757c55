scope::slot!(static REQUEST_ID: String);

fn read() {
    let _id: Option<u64> = REQUEST_ID.get();
}

fn main() {}
