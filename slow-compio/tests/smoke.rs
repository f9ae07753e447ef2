use slow_compio::{Client, LocalRequest, Server};

#[test]
fn round_trip() {
    slow_compio::runtime().unwrap().block_on(async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        compio::runtime::spawn(server.serve(|req: LocalRequest| async move { Ok(req.body) }))
            .detach();
        let client = Client::connect(addr).await.unwrap();
        for i in 0..1000 {
            let body = vec![i as u8; (i * 97) % 70000];
            assert_eq!(client.request(body.clone()).await.unwrap(), body);
        }
        client.close().await.unwrap();
    });
}
