// On an `impl` block, every async fn is scoped with the block's options, named `Type::method`.
#[scoped(grace = 100ms)]
impl Service {
    async fn call(&self, req: Request) -> Result<Response, AppError> {
        let a = spawn!(backend(req));
        Ok(a.await?)
    }

    fn not_async(&self) {}
}
