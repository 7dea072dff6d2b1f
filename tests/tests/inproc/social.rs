//! Friends through the in-process stack.

use beaver_tests::stack::{unique, TestStack};
use serde_json::{json, Value};
use std::sync::Arc;

fn friend_ids(list: &Value) -> Vec<String> {
    list["friends"].as_array().unwrap_or_else(|| panic!("no friends list: {list}")).iter().map(|f| f["user_id"].as_str().unwrap().to_owned()).collect()
}

pub async fn an_accepted_friend_request_puts_each_user_in_the_others_list(stack: Arc<TestStack>) {
    let api = stack.api();
    let (ann_name, bob_name) = (unique("ann"), unique("bob"));
    let ((ann, ann_token), (bob, bob_token)) = tokio::join!(api.signed_up(&ann_name), api.signed_up(&bob_name));

    let asked = api.post("/api/friend/requests", Some(&ann_token), json!({ "to_user_id": bob, "message": "hi" })).await.expect(200);
    let request = asked.data()["request_id"].as_str().unwrap_or_else(|| panic!("no request_id: {}", asked.body)).to_owned();
    let pending = api.get("/api/friend/requests", Some(&bob_token)).await.expect(200);
    assert!(pending.body.to_string().contains(&request), "bob sees the pending request: {}", pending.body);
    assert!(friend_ids(api.get("/api/friend/list", Some(&ann_token)).await.expect(200).data()).is_empty(), "not friends before the answer");

    api.post(&format!("/api/friend/requests/{request}/accept"), Some(&bob_token), json!({})).await.expect(200);
    let ann_list = api.get("/api/friend/list", Some(&ann_token)).await.expect(200);
    let bob_list = api.get("/api/friend/list", Some(&bob_token)).await.expect(200);
    assert_eq!(friend_ids(ann_list.data()), vec![bob.clone()], "{}", ann_list.body);
    assert_eq!(friend_ids(bob_list.data()), vec![ann.clone()], "{}", bob_list.body);

    // Accepting twice is refused: the request is no longer pending.
    let twice = api.post(&format!("/api/friend/requests/{request}/accept"), Some(&bob_token), json!({})).await;
    assert!(twice.status.is_client_error(), "a second accept is refused: {} {}", twice.status, twice.body);
}
