//! The pipelined baseline on async-std: its sockets, tasks on its global
//! executor; server and client are smol's ([`super::futures_io`]).

use std::future::Future;

use async_std::net::{TcpListener, TcpStream};

use super::futures_io::{Runtime, tcp};

tcp!(TcpStream, TcpListener);

/// async-std: tasks on its global executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Global;

impl Runtime for Global {
    type Stream = TcpStream;

    fn spawn_detached<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) {
        // Dropping the handle detaches the task.
        drop(async_std::task::spawn(f));
    }
}
