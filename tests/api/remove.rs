use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn removal_is_204_with_a_position_and_then_get_patch_and_delete_are_404() {
    let app = spawn_app().await;
    let id = app.register_ok("olga", VISA).await["id"].as_u64().unwrap();
    let r = app.delete(id).await;
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["paytree-position"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 2
    );
    assert_problem(
        app.get(&format!("/paymethods/{id}")).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.patch(id, &json!({"number": MASTERCARD}), None).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(app.delete(id).await, 404, "not-found").await;
    assert_eq!(app.list("olga").await["items"], json!([]));
    // The id is not reused.
    let next = app.register_ok("olga", VISA).await["id"].as_u64().unwrap();
    assert!(next > id);
}

#[tokio::test]
async fn removal_honours_if_match() {
    let app = spawn_app().await;
    let id = app.register_ok("pete", VISA).await["id"].as_u64().unwrap();
    let r = app
        .client
        .delete(app.url(&format!("/paymethods/{id}")))
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_problem(r, 412, "version-mismatch").await;
    let r = app
        .client
        .delete(app.url(&format!("/paymethods/{id}")))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}
