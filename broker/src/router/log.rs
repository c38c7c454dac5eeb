//! What the router says: its log lines in Heroku's format (`at=info method=GET path="/" …`,
//! in the app's log as source `heroku`, dyno `router`), and the error codes it answers with,
//! each with a status and a plain page.

use std::fmt::Write;
use std::time::Duration;

use hyper::StatusCode;

/// A request's facts for its log line.
#[derive(Debug, Clone)]
pub struct RequestLine {
    /// `GET` (no allocation for the standard methods).
    pub method: hyper::Method,
    /// The request target, as sent (a clone shares its bytes); its path and query are logged.
    pub uri: hyper::Uri,
    /// The host it was for (already checked to be a host name).
    pub host: String,
    /// Its request id.
    pub request_id: String,
    /// The client's address (and what it was forwarded for), as rendered once per connection.
    pub fwd: hyper::header::HeaderValue,
    /// `http` or `https`.
    pub protocol: &'static str,
}

/// How a request went: the dyno, the timings, the status and the bytes sent back.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `web.1`, when a dyno was chosen.
    pub dyno: Option<String>,
    /// Time to connect to the dyno.
    pub connect: Option<Duration>,
    /// Time the dyno took to answer.
    pub service: Option<Duration>,
    /// Status sent to the client.
    pub status: u16,
    /// Body bytes sent to the client.
    pub bytes: u64,
}

/// The router's errors, Heroku's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `H10`: no web dyno is up or starting (they crashed).
    AppCrashed,
    /// `H12`: the dyno sent no response within `router.timeout_ms`.
    RequestTimeout,
    /// `H13`: the dyno closed the connection without a response.
    ConnectionClosed,
    /// `H14`: the formation has no web dynos.
    NoWebDynos,
    /// `H18`: the dyno broke off while the request was still being sent to it.
    ServerInterrupted,
    /// `H20`: a web dyno was starting but did not come up in `router.boot_wait_ms`.
    BootTimeout,
    /// `H27`: the client went away before the response.
    ClientInterrupted,
}

impl Code {
    /// `H12`.
    pub fn code(self) -> &'static str {
        match self {
            Code::AppCrashed => "H10",
            Code::RequestTimeout => "H12",
            Code::ConnectionClosed => "H13",
            Code::NoWebDynos => "H14",
            Code::ServerInterrupted => "H18",
            Code::BootTimeout => "H20",
            Code::ClientInterrupted => "H27",
        }
    }

    /// Heroku's description.
    pub fn desc(self) -> &'static str {
        match self {
            Code::AppCrashed => "App crashed",
            Code::RequestTimeout => "Request timeout",
            Code::ConnectionClosed => "Connection closed without response",
            Code::NoWebDynos => "No web dynos running",
            Code::ServerInterrupted => "Server Request Interrupted",
            Code::BootTimeout => "App boot timeout",
            Code::ClientInterrupted => "Client Request Interrupted",
        }
    }

    /// The status answered: 504 for a timeout, 499 (nginx's "client closed request", logged
    /// only: nobody is there to read it) when the client left, else 503.
    pub fn status(self) -> StatusCode {
        match self {
            Code::RequestTimeout => StatusCode::GATEWAY_TIMEOUT,
            Code::ClientInterrupted => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The page shown to the client.
    pub fn page(self, request_id: &str) -> String {
        let advice = match self {
            Code::NoWebDynos => {
                "This application has no web dynos running. Scale them up with `broker ps:scale web=1`."
            }
            Code::RequestTimeout => "The application took too long to respond.",
            _ => "An error occurred in the application and your page could not be served.",
        };
        html_page(
            "Application error",
            &format!("{advice} If you are the application owner, check your logs for details ({} {}). Request id: {request_id}", self.code(), self.desc()),
        )
    }
}

/// The page for a host that no app answers to.
pub fn no_such_app(host: &str) -> String {
    html_page("No such app", &format!("There is no app at {host}."))
}

/// The page for a `CONNECT`: the router is no forward proxy.
pub fn not_a_proxy() -> String {
    html_page(
        "Method not allowed",
        "This router serves apps; it does not tunnel to other hosts.",
    )
}

/// The page when the router itself could not answer (its state store failed).
pub fn router_unavailable() -> String {
    html_page(
        "Service unavailable",
        "The router cannot reach its state store; try again shortly.",
    )
}

fn html_page(title: &str, text: &str) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{x}</p></body></html>\n",
        t = escape(title),
        x = escape(text)
    )
}

/// The log line of a request: `at=info …`, or `at=error code=H12 desc="…" …`. Written in
/// one pass into one string (the router writes one per request).
pub fn line(req: &RequestLine, out: &Outcome, error: Option<Code>) -> String {
    let mut text = String::with_capacity(256);
    match error {
        Some(c) => {
            text.push_str("at=error code=");
            text.push_str(c.code());
            text.push_str(" desc=\"");
            text.push_str(c.desc());
            text.push('"');
        }
        None => text.push_str("at=info"),
    }
    text.push_str(" method=");
    text.push_str(req.method.as_str());
    text.push_str(" path=\"");
    quote_into(&mut text, req.uri.path_and_query().map_or("/", |p| p.as_str()));
    text.push_str("\" host=");
    text.push_str(&req.host);
    text.push_str(" request_id=");
    text.push_str(&req.request_id);
    text.push_str(" fwd=\"");
    text.push_str(req.fwd.to_str().unwrap_or_default());
    text.push_str("\" dyno=");
    text.push_str(out.dyno.as_deref().unwrap_or_default());
    text.push_str(" connect=");
    ms_into(&mut text, out.connect);
    text.push_str(" service=");
    ms_into(&mut text, out.service);
    let _ = write!(
        text,
        " status={} bytes={} protocol={}",
        out.status, out.bytes, req.protocol
    );
    text
}

fn ms_into(text: &mut String, d: Option<Duration>) {
    if let Some(d) = d {
        let _ = write!(text, "{}ms", d.as_millis());
    }
}

/// Appends a value for inside double quotes: quotes, backslashes and control characters
/// escaped, so that a request cannot forge fields or lines.
fn quote_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestLine {
        RequestLine {
            method: hyper::Method::GET,
            uri: hyper::Uri::from_static("/"),
            host: "myapp.localhost".into(),
            request_id: "abc".into(),
            fwd: hyper::header::HeaderValue::from_static("127.0.0.1"),
            protocol: "http",
        }
    }

    #[test]
    fn lines_have_herokus_fields_in_herokus_order() {
        let out = Outcome {
            dyno: Some("web.1".into()),
            connect: Some(Duration::from_millis(0)),
            service: Some(Duration::from_millis(3)),
            status: 200,
            bytes: 512,
        };
        assert_eq!(
            line(&request(), &out, None),
            "at=info method=GET path=\"/\" host=myapp.localhost request_id=abc fwd=\"127.0.0.1\" \
             dyno=web.1 connect=0ms service=3ms status=200 bytes=512 protocol=http"
        );
        let failed = Outcome {
            status: 503,
            ..Outcome::default()
        };
        assert_eq!(
            line(&request(), &failed, Some(Code::AppCrashed)),
            "at=error code=H10 desc=\"App crashed\" method=GET path=\"/\" host=myapp.localhost \
             request_id=abc fwd=\"127.0.0.1\" dyno= connect= service= status=503 bytes=0 protocol=http"
        );
    }

    #[test]
    fn a_path_cannot_forge_fields_or_lines() {
        // Whatever a parser lets through, the quoted value stays one field on one line.
        let mut text = String::new();
        quote_into(&mut text, "/\" status=200 \n at=info");
        assert_eq!(text, "/\\\" status=200 \\x0a at=info");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn pages_escape_what_they_show() {
        assert!(!no_such_app("<script>").contains("<script>"));
        assert_eq!(Code::RequestTimeout.status(), 504);
        assert_eq!(Code::NoWebDynos.status(), 503);
    }
}
