//! The baselines on smol: async-io sockets, tasks on a smol `Executor`; the
//! server either answers from a task per request ([`serve`]) or inline,
//! pipelined ([`super::futures_io::serve_pipelined`], shared with
//! async-std, as is the client, [`super::futures_io::Client`]).

use std::future::Future;
use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use smol::Executor;
use smol::channel;
use smol::net::{TcpListener, TcpStream};

use super::futures_io::{Outgoing, Runtime, read_frame, tcp, writer};
use super::{HANDSHAKE, HELLO, READ_CHUNK, REQUEST, RESPONSE, WELCOME};
use super::{check_handshake, closed};

tcp!(TcpStream, TcpListener);

/// smol: tasks on this executor.
impl Runtime for Arc<Executor<'static>> {
    type Stream = TcpStream;

    fn spawn_detached<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) {
        Executor::spawn(self, f).detach();
    }
}

/// Accepts connections forever; every task runs on `ex`.
pub async fn serve(listener: TcpListener, ex: Arc<Executor<'static>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let spawner = ex.clone();
        ex.spawn(async move {
            let _ = connection(stream, spawner).await;
        })
        .detach();
    }
}

async fn connection(stream: TcpStream, ex: Arc<Executor<'static>>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut rd = stream.clone();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    check_handshake(read_frame(&mut rd, &mut buf).await?, HELLO)?;
    let (tx, rx) = channel::unbounded::<Outgoing>();
    tx.try_send((WELCOME, 0, Bytes::from_static(HANDSHAKE)))
        .map_err(|_| closed())?;
    ex.spawn(writer(stream, rx)).detach();
    while let Some(frame) = read_frame(&mut rd, &mut buf).await? {
        if frame.ty != REQUEST {
            continue;
        }
        let tx = tx.clone();
        // The handler: an echo, in its own task.
        ex.spawn(async move {
            let _ = tx.try_send((RESPONSE, frame.id, frame.payload));
        })
        .detach();
    }
    Ok(())
}
