//! The same test bodies on smol and on async-std: a small trait over what differs.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use futures_io::{AsyncRead, AsyncWrite};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a test needs from an async runtime: tasks and loopback TCP.
pub trait Runtime: 'static {
    type Tcp: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug + 'static;
    type Listener: Send + Sync + 'static;

    fn block_on<T>(f: impl Future<Output = T>) -> T;
    fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> BoxFuture<'static, T>;
    fn spawn_blocking<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> BoxFuture<'static, T>;
    fn listen() -> BoxFuture<'static, (Self::Listener, SocketAddr)>;
    fn accept(listener: &Self::Listener) -> BoxFuture<'_, Self::Tcp>;
    fn connect(addr: SocketAddr) -> BoxFuture<'static, Self::Tcp>;
}

pub struct Smol;

impl Runtime for Smol {
    type Tcp = smol::net::TcpStream;
    type Listener = smol::net::TcpListener;

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        smol::block_on(f)
    }
    fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> BoxFuture<'static, T> {
        Box::pin(smol::spawn(f))
    }
    fn spawn_blocking<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> BoxFuture<'static, T> {
        Box::pin(smol::unblock(f))
    }
    fn listen() -> BoxFuture<'static, (Self::Listener, SocketAddr)> {
        Box::pin(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            (listener, addr)
        })
    }
    fn accept(listener: &Self::Listener) -> BoxFuture<'_, Self::Tcp> {
        Box::pin(async move { listener.accept().await.unwrap().0 })
    }
    fn connect(addr: SocketAddr) -> BoxFuture<'static, Self::Tcp> {
        Box::pin(async move { smol::net::TcpStream::connect(addr).await.unwrap() })
    }
}

pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Tcp = async_std::net::TcpStream;
    type Listener = async_std::net::TcpListener;

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        async_std::task::block_on(f)
    }
    fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> BoxFuture<'static, T> {
        Box::pin(async_std::task::spawn(f))
    }
    fn spawn_blocking<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> BoxFuture<'static, T> {
        Box::pin(async_std::task::spawn_blocking(f))
    }
    fn listen() -> BoxFuture<'static, (Self::Listener, SocketAddr)> {
        Box::pin(async {
            let listener = async_std::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            (listener, addr)
        })
    }
    fn accept(listener: &Self::Listener) -> BoxFuture<'_, Self::Tcp> {
        Box::pin(async move { listener.accept().await.unwrap().0 })
    }
    fn connect(addr: SocketAddr) -> BoxFuture<'static, Self::Tcp> {
        Box::pin(async move { async_std::net::TcpStream::connect(addr).await.unwrap() })
    }
}

/// Generates `on_smol::NAME` and `on_async_std::NAME` tests from `async fn NAME<R: Runtime>()`.
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod on_smol {
            $(#[test] fn $name() {
                use $crate::runtime::Runtime;
                $crate::runtime::Smol::block_on(super::$name::<$crate::runtime::Smol>())
            })*
        }
        mod on_async_std {
            $(#[test] fn $name() {
                use $crate::runtime::Runtime;
                $crate::runtime::AsyncStd::block_on(super::$name::<$crate::runtime::AsyncStd>())
            })*
        }
    };
}
pub(crate) use on_both_runtimes;
