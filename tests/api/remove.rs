use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn removal_is_204_with_a_position_and_then_get_patch_and_delete_are_404() {
    let app = spawn_app().await;
    let id = app.register_ok("olga", VISA).await.id();
    let r = app.remove(id, None).await;
    assert_eq!(r.status(), 204);
    assert!(position(&r) >= 2);
    assert_problem(app.get_paymethod(id).await, 404, "not-found").await;
    assert_problem(
        app.change(id, &json!({"number": MASTERCARD}), None).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(app.remove(id, None).await, 404, "not-found").await;
    assert_eq!(app.list("olga").await["items"], json!([]));
    // The id is not reused.
    let next = app.register_ok("olga", VISA).await.id();
    assert!(next > id);
}

#[tokio::test]
async fn removal_honours_if_match() {
    let app = spawn_app().await;
    let id = app.register_ok("pete", VISA).await.id();
    let r = app.remove(id, Some("\"7\"")).await;
    assert_problem(r, 412, "version-mismatch").await;
    let r = app.remove(id, Some("\"1\"")).await;
    assert_eq!(r.status(), 204);
}
