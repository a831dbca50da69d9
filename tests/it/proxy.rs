//! A TCP proxy the test controls, standing between Hector and its database: `cut` makes the
//! database vanish the way a network partition does (connections stay open and nothing
//! answers), `restore` brings it back (the stuck connections are closed, new ones forwarded).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Waits until the proxy is `up` (or dropped).
async fn until(rx: &mut watch::Receiver<bool>, up: bool) {
    let _ = rx.wait_for(|now| *now == up).await;
}

async fn serve(mut client: TcpStream, target: SocketAddr, mut rx: watch::Receiver<bool>) {
    if !*rx.borrow() {
        // Accepted during the outage: hold the connection, silent, until it ends.
        until(&mut rx, true).await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        () = until(&mut rx, false) => {
            // Cut: nothing passes, nothing closes, until the database is back.
            until(&mut rx, true).await;
        }
    }
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, rx) = watch::channel(true);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, target, rx.clone()));
            }
        });
        Self { addr, up, accept }
    }

    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}
