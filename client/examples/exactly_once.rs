//! Publishing without duplicates: a producer that retries after a lost reply must not add the
//! event twice. `add_idempotent` (XADD IDMP, Redis 8.6 and rill-server) makes the retry answer
//! the first attempt's ID; `add_idempotent_auto` derives the idempotency ID from the content.
//! A server without IDMP answers an error, never a silent duplicate. Then two writes that
//! must happen together, in a MULTI/EXEC on a connection of one's own.
//!
//! ```text
//! cargo run -p rill --example exactly_once                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example exactly_once  # a server
//! ```

use rill::{Client, Error, Reply};
use serde::{Deserialize, Serialize};

const PAYMENTS: &str = "example:exactly_once:payments";
const LEDGER: &str = "example:exactly_once:ledger";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Payment {
    order: u32,
    cents: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client.command(&["DEL", PAYMENTS, LEDGER]).await?;
    let payments = client.stream::<Payment>(PAYMENTS);
    let payment = Payment {
        order: 17,
        cents: 4_200,
    };

    // The producer names itself and the event; a retry sends the same pair.
    match payments
        .add_idempotent("checkout-1", b"order-17", &payment)
        .await
    {
        Ok(first) => {
            let retry = payments
                .add_idempotent("checkout-1", b"order-17", &payment)
                .await?;
            println!("first attempt {first}, retry answered {retry}");
            assert_eq!(first, retry);
            // The same content from the same producer, the ID derived by the server.
            let auto = payments.add_idempotent_auto("checkout-1", &payment).await?;
            let again = payments.add_idempotent_auto("checkout-1", &payment).await?;
            assert_eq!(auto, again);
            assert_eq!(payments.len().await?, 2);
            println!("two entries for four calls");
        }
        Err(e @ Error::Server { .. }) => {
            // Redis before 8.6: refused, nothing added.
            println!("this server has no XADD IDMP: {e}");
            assert_eq!(payments.len().await?, 0);
        }
        Err(e) => return Err(e.into()),
    }

    // State-changing commands are refused on the client every task shares...
    let refused = client.command(&["MULTI"]).await;
    assert!(matches!(refused, Err(Error::Usage(_))), "{refused:?}");
    println!(
        "on the shared client: {}",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    );
    // ...and run on a connection of one's own.
    let mut tx = client.connection().await?;
    tx.command(&["MULTI"]).await?;
    tx.command(&["XADD", PAYMENTS, "*", "order", "18", "cents", "100"])
        .await?;
    tx.command(&["XADD", LEDGER, "*", "order", "18", "delta", "-100"])
        .await?;
    let exec = tx.command(&["EXEC"]).await?;
    let Reply::Array(ids) = &exec else {
        return Err(format!("EXEC answered {exec:?}").into());
    };
    assert_eq!(ids.len(), 2);
    println!(
        "payment and ledger entry written together: {} replies",
        ids.len()
    );
    Ok(())
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
