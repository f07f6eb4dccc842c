//! A server's questions during a stateless client's call, in rounds (multi round-trip requests,
//! SEP-2322).
//!
//! A 2026-07-28 client keeps no session, so a server's `elicitation/create`,
//! `sampling/createMessage` or `roots/list` during its call cannot reach it as a request. The
//! hub runs such a call apart from the client's HTTP request; when the server asks, the call is
//! parked and the client gets `resultType: "input_required"` with the question(s) and a
//! `requestState` that names the parked call. The client's retry (the same request with
//! `inputResponses` and that `requestState`) hands the answers to the waiting server and waits
//! again, for the result or the next question. A parked call nobody comes back for is dropped
//! after the hub's `input_timeout`: its server's question gets an error, and the call upstream
//! is cancelled. A client that ends its request while waiting cancels the call the same way.
//!
//! The other way round, a 2026-07-28 server asks in an `input_required` result of its own: a
//! stateless client gets it as it is and retries with the server's own `requestState`; a session
//! client is asked each question directly ([`answer_here`]) and the hub retries for it.

use std::collections::HashMap;
use std::sync::Mutex;

use rmcp::model::{InputRequest, InputRequests, InputResponses, ServerResult};
use rmcp::service::{Peer, RoleServer};
use rmcp::{ErrorData, ServiceError};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Hub;

/// How the hub's own `requestState` values begin; others are a server's own, for it.
const STATE_PREFIX: &str = "patchbay-rounds:";

/// Whether `state` is a `requestState` the hub gave out.
pub(super) fn is_ours(state: &str) -> bool {
    state.starts_with(STATE_PREFIX)
}

/// Questions a server may have open at once in one call.
const OPEN_QUESTIONS: usize = 8;

/// A server's question during a call, and where its answer goes.
pub(super) struct Ask {
    request: InputRequest,
    answer: oneshot::Sender<Value>,
}

/// Put `request` to the client behind `asks` and wait for its answer, as a `T`.
pub(super) async fn ask<T: DeserializeOwned>(
    asks: &mpsc::Sender<Ask>,
    request: InputRequest,
) -> Result<T, ErrorData> {
    let (answer, answered) = oneshot::channel();
    let gone = || ErrorData::internal_error("the client's call ended before it answered", None);
    asks.send(Ask { request, answer })
        .await
        .map_err(|_| gone())?;
    let value = answered.await.map_err(|_| {
        ErrorData::internal_error(
            "the client did not answer (it did not retry with inputResponses in time)",
            None,
        )
    })?;
    serde_json::from_value(value).map_err(|err| {
        ErrorData::invalid_params(format!("the client's answer does not fit: {err}"), None)
    })
}

/// A client's failure to answer a server's question, as the server is told it: the client's
/// own JSON-RPC error as it is, the rest said plainly.
pub(super) fn client_error(err: ServiceError) -> ErrorData {
    match err {
        ServiceError::McpError(data) => data,
        other => ErrorData::internal_error(format!("the client did not answer: {other}"), None),
    }
}

/// Ask a session client the questions a 2026-07-28 server put in an `input_required` result,
/// directly, as a server of its own revision would have: its answers, by the questions' keys.
#[expect(
    deprecated,
    reason = "sampling and roots are what session clients speak"
)]
pub(super) async fn answer_here(
    peer: &Peer<RoleServer>,
    questions: InputRequests,
) -> Result<InputResponses, ErrorData> {
    let mut answers = InputResponses::new();
    for (key, question) in questions {
        let answer = match question {
            InputRequest::Elicitation(request) => {
                let answer = peer
                    .create_elicitation(request.params)
                    .await
                    .map_err(client_error)?;
                serde_json::to_value(answer)
            }
            InputRequest::CreateMessage(request) => {
                let answer = peer
                    .create_message(request.params)
                    .await
                    .map_err(client_error)?;
                serde_json::to_value(answer)
            }
            InputRequest::ListRoots(_) => {
                let answer = peer.list_roots().await.map_err(client_error)?;
                serde_json::to_value(answer)
            }
            _ => {
                let message = format!("the server asked `{key}` in a way this hub does not know");
                return Err(ErrorData::internal_error(message, None));
            }
        };
        let answer = answer.map_err(|err| ErrorData::internal_error(err.to_string(), None))?;
        answers.insert(key, answer);
    }
    Ok(answers)
}

/// A call in rounds: its work upstream, the questions its server asks, the answers awaited.
pub(super) struct Call {
    /// What the client called (a retry must call the same).
    what: String,
    outcome: JoinHandle<Result<ServerResult, ErrorData>>,
    asks: mpsc::Receiver<Ask>,
    waiting: Vec<(String, oneshot::Sender<Value>)>,
    cancel: CancellationToken,
    next_key: u64,
}

/// Where a call in rounds stands.
pub(super) enum Step {
    /// It finished.
    Done(Box<Result<ServerResult, ErrorData>>),
    /// Its server asked these questions.
    Asked(InputRequests),
}

impl Call {
    /// Start `work` (the upstream call, given the sender its server's questions go to and the
    /// token that cancels it) apart from the client's request.
    pub(super) fn start<F, W>(what: String, work: W) -> Self
    where
        W: FnOnce(mpsc::Sender<Ask>, CancellationToken) -> F,
        F: Future<Output = Result<ServerResult, ErrorData>> + Send + 'static,
    {
        let (sender, asks) = mpsc::channel(OPEN_QUESTIONS);
        let cancel = CancellationToken::new();
        let outcome = tokio::spawn(work(sender, cancel.clone()));
        Self {
            what,
            outcome,
            asks,
            waiting: Vec::new(),
            cancel,
            next_key: 0,
        }
    }

    /// Hand the client's answers to the questions waiting for them; a question it left out is
    /// answered with an error (the server decides what that means).
    pub(super) fn answer(&mut self, mut responses: InputResponses) {
        for (key, answer) in self.waiting.drain(..) {
            if let Some(value) = responses.remove(&key) {
                let _ = answer.send(value);
            }
        }
    }

    /// Wait until the call finishes or its server asks something (then every question asked
    /// by now, each under a key of this call).
    pub(super) async fn next(&mut self) -> Step {
        tokio::select! {
            outcome = &mut self.outcome => Step::Done(Box::new(outcome.unwrap_or_else(|err| {
                Err(ErrorData::internal_error(format!("the call failed: {err}"), None))
            }))),
            Some(first) = self.asks.recv() => {
                let mut questions = InputRequests::new();
                let mut ask = Some(first);
                while let Some(Ask { request, answer }) = ask.take() {
                    self.next_key += 1;
                    let key = self.next_key.to_string();
                    questions.insert(key.clone(), request);
                    self.waiting.push((key, answer));
                    ask = self.asks.try_recv().ok();
                }
                Step::Asked(questions)
            }
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Unless it finished: the server's questions get errors, the call is cancelled.
        self.cancel.cancel();
    }
}

/// Calls waiting for their client to come back, by the `requestState` it was given.
#[derive(Default)]
pub(super) struct Parked {
    calls: Mutex<HashMap<String, Call>>,
}

impl Parked {
    /// How many calls wait.
    pub(super) fn len(&self) -> usize {
        self.calls.lock().expect("parked lock").len()
    }
}

impl Hub {
    /// Park `call` until its client retries (at most the hub's `input_timeout`): the
    /// `requestState` that names it.
    pub(super) fn park(&self, call: Call) -> Result<String, ErrorData> {
        let token = crate::secret::random_hex(16).map_err(|err| {
            ErrorData::internal_error(format!("no random state for the call: {err}"), None)
        })?;
        let state = format!("{STATE_PREFIX}{token}");
        self.inner
            .parked
            .calls
            .lock()
            .expect("parked lock")
            .insert(state.clone(), call);
        let timeout = self.config().hub.input_timeout();
        let hub = self.clone();
        let expired = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if hub.unpark(&expired).is_some() {
                tracing::info!(?timeout, "a call waited for its client's answer too long");
            }
        });
        Ok(state)
    }

    /// The parked call `state` names, taken out, if it still waits.
    fn unpark(&self, state: &str) -> Option<Call> {
        let mut calls = self.inner.parked.calls.lock().expect("parked lock");
        calls.remove(state)
    }

    /// The call a retry continues: the one `state` names, which must be a call of `what`.
    pub(super) fn resume(&self, state: &str, what: &str) -> Result<Call, ErrorData> {
        let call = self.unpark(state).ok_or_else(|| {
            ErrorData::invalid_params(
                "requestState names no call waiting for input (it may have waited too long: \
                 the hub's `input_timeout`); send the request again without it",
                None,
            )
        })?;
        if call.what != what {
            let message = format!(
                "requestState belongs to a call of `{}`, not `{what}`",
                call.what
            );
            // Back where it was: a wrong retry does not end someone's call.
            let mut calls = self.inner.parked.calls.lock().expect("parked lock");
            calls.insert(state.to_owned(), call);
            return Err(ErrorData::invalid_params(message, None));
        }
        Ok(call)
    }

    /// How many calls wait for their client's answer (`GET /api/v1/status`).
    pub fn calls_waiting_for_input(&self) -> usize {
        self.inner.parked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolResult, ElicitRequest, ElicitRequestParams, ElicitResult};

    fn elicitation(message: &str) -> InputRequest {
        let params: ElicitRequestParams = serde_json::from_value(serde_json::json!({
            "mode": "form",
            "message": message,
            "requestedSchema": { "type": "object", "properties": {} },
        }))
        .unwrap();
        InputRequest::Elicitation(ElicitRequest::new(params))
    }

    /// A call that asks twice at once, then answers with what it was told.
    fn asking_call() -> Call {
        Call::start("t".to_owned(), |asks, _cancel| async move {
            let (a, b) = tokio::join!(
                ask::<ElicitResult>(&asks, elicitation("first")),
                ask::<ElicitResult>(&asks, elicitation("second")),
            );
            let said = |r: Result<ElicitResult, ErrorData>| match r {
                Ok(answer) => serde_json::to_value(answer.action).unwrap().to_string(),
                Err(err) => err.message.to_string(),
            };
            let text = format!("{} / {}", said(a), said(b));
            Ok(ServerResult::CallToolResult(CallToolResult::success(vec![
                rmcp::model::ContentBlock::text(text),
            ])))
        })
    }

    fn text(step: Step) -> String {
        let Step::Done(done) = step else {
            panic!("the call asked again instead of finishing");
        };
        let Ok(ServerResult::CallToolResult(result)) = *done else {
            panic!("the call did not finish with a result");
        };
        let content = serde_json::to_value(&result.content).unwrap();
        content[0]["text"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn questions_come_out_keyed_and_answers_go_back_to_them() {
        let mut call = asking_call();
        let mut asked = InputRequests::new();
        while asked.len() < 2 {
            match call.next().await {
                Step::Asked(more) => asked.extend(more),
                Step::Done(_) => panic!("the call finished before asking"),
            }
        }
        assert_eq!(asked.keys().collect::<Vec<_>>(), ["1", "2"]);
        let first = asked
            .iter()
            .find(|(_, r)| serde_json::to_string(r).unwrap().contains("first"));
        let key = first.unwrap().0.clone();
        let mut responses = InputResponses::new();
        responses.insert(
            key,
            serde_json::json!({ "action": "accept", "content": {} }),
        );
        call.answer(responses);
        let text = text(call.next().await);
        assert!(
            text.starts_with("\"accept\" / ") && text.contains("did not answer"),
            "the answered question got its answer, the other an error: {text}"
        );
    }

    #[tokio::test]
    async fn dropping_a_call_cancels_its_work() {
        let cancelled = CancellationToken::new();
        let seen = cancelled.clone();
        let call = Call::start("t".to_owned(), move |_asks, cancel| async move {
            cancel.cancelled().await;
            seen.cancel();
            Err(ErrorData::internal_error("cancelled", None))
        });
        drop(call);
        tokio::time::timeout(std::time::Duration::from_secs(5), cancelled.cancelled())
            .await
            .expect("the work saw the cancellation");
    }
}
