//! A server and a client in one program: `cargo run -p slow-smol --example smol_quickstart`.

use std::time::Duration;

use slow_smol::{Client, Error, ErrorCode, ErrorReply, Request, Server};

fn main() -> Result<(), Error> {
    smol::block_on(async {
        let server = Server::bind("127.0.0.1:0").await?;
        let addr = server.local_addr()?;
        smol::spawn(server.serve(|req: Request| async move {
            match &req.body[..] {
                b"fail" => Err(ErrorReply::new(ErrorCode(0x0100), "as asked")),
                _ => Ok(req.body),
            }
        }))
        .detach();

        let client = Client::connect(addr).await?;
        println!("echo:    {:?}", client.request("hello").await?);
        println!("error:   {}", client.request("fail").await.unwrap_err());
        let big = client
            .request_timeout(vec![7u8; 1 << 20], Duration::from_secs(5))
            .await?;
        println!("1 MiB:   {} bytes back", big.len());
        client.close().await
    })
}
