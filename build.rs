fn main() {
    napi_build::setup();
    // Release builds (and profiles that inherit it) fold identical functions at link
    // time (LLD's identical code folding; monomorphised generics often compile to the
    // same machine code): a smaller addon, the same code. bench/README.md has the saving.
    // Only where the linker is LLD (Rust's default on x86_64-unknown-linux-gnu since
    // 1.90); GNU ld has no `--icf`.
    if std::env::var("PROFILE").as_deref() == Ok("release")
        && std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu")
    {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
    }
}
