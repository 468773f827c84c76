//! The wire format between nodes: known bytes for a frame, round trips of every frame
//! kind, and refusals — another version (named), another kind, bad tags, truncation at
//! every length, trailing bytes, oversized fields — as errors, never panics.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use swarm_runtime::ErrorCode;
use swarm_runtime::cluster::wire::{
    Cancel, Hello, Load, Piece, RemoteReply, RemoteRequest, WIRE_VERSION, WireError,
};
use swarm_runtime::envelope::{Priority, RequestId};

fn request() -> RemoteRequest {
    RemoteRequest {
        id: RequestId(0x0102_0304_0506_0708),
        remaining: Duration::from_millis(1_500),
        priority: Priority::High,
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        service: "nash".into(),
        from: "a".into(),
        streamed: false,
        payload: b"{\"game\":1}".to_vec(),
    }
}

#[test]
fn a_hello_frame_is_exactly_these_bytes() {
    let frame = Hello { node: "a".into() }.encode().unwrap();
    assert_eq!(frame, b"SWRM\x00\x02\x01\x00\x01a");
    assert_eq!(Hello::decode(&frame).unwrap().node, "a");
    assert_eq!(WIRE_VERSION, 2);
}

#[test]
fn requests_and_replies_round_trip() {
    let r = request();
    let frame = r.encode().unwrap();
    assert_eq!(&frame[..7], b"SWRM\x00\x02\x02");
    // id, then the time left in ms, then the priority.
    assert_eq!(&frame[7..15], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&frame[15..20], &[0, 0, 0x05, 0xdc, 2]);
    assert_eq!(RemoteRequest::decode(&frame).unwrap(), r);
    // The calling node and the streamed flag follow the service's name.
    let at = frame.windows(4).position(|w| w == b"nash").unwrap() + 4;
    assert_eq!(&frame[at..at + 4], &[0, 1, b'a', 0]);
    let streamed = RemoteRequest {
        streamed: true,
        ..request()
    };
    assert_eq!(
        RemoteRequest::decode(&streamed.encode().unwrap()).unwrap(),
        streamed
    );
    let untraced = RemoteRequest {
        traceparent: None,
        priority: Priority::Low,
        remaining: Duration::from_secs(u64::from(u32::MAX)),
        ..request()
    };
    let back = RemoteRequest::decode(&untraced.encode().unwrap()).unwrap();
    assert_eq!(back.traceparent, None);
    // Longer than u32 milliseconds saturates rather than wrapping to a short deadline.
    assert_eq!(back.remaining, Duration::from_millis(u64::from(u32::MAX)));

    let load = Load {
        queued: 3,
        in_flight: 2,
        slots: 4,
        per_unit_us: 1_250,
    };
    for outcome in [
        Ok(b"answer".to_vec()),
        Err((
            ErrorCode::Overloaded,
            "queue full (capacity 64)".to_string(),
        )),
        Err((ErrorCode::DeadlineExceeded, String::new())),
    ] {
        let reply = RemoteReply {
            id: RequestId(9),
            outcome,
            load,
            pieces: 17,
        };
        assert_eq!(
            RemoteReply::decode(&reply.encode().unwrap()).unwrap(),
            reply
        );
    }
}

#[test]
fn another_version_is_refused_naming_both() {
    let mut frame = request().encode().unwrap();
    frame[5] = 1;
    let e = RemoteRequest::decode(&frame).unwrap_err();
    assert_eq!(e, WireError::Version { theirs: 1, ours: 2 });
    assert_eq!(
        e.to_string(),
        "the peer speaks swarm wire v1; this node speaks v2"
    );
}

#[test]
fn malformed_frames_are_errors_at_every_length() {
    let frame = request().encode().unwrap();
    for n in 0..frame.len() {
        let e = RemoteRequest::decode(&frame[..n]).unwrap_err();
        assert!(
            matches!(e, WireError::Truncated | WireError::BadMagic),
            "prefix of {n} bytes: {e}"
        );
    }
    let mut long = frame.clone();
    long.push(0);
    assert_eq!(
        RemoteRequest::decode(&long).unwrap_err(),
        WireError::Trailing(1)
    );
    assert_eq!(RemoteReply::decode(&frame).unwrap_err(), WireError::Kind(2));
    assert_eq!(
        RemoteRequest::decode(b"HTTP/1.1 200").unwrap_err(),
        WireError::BadMagic
    );
    let mut bad_priority = frame.clone();
    bad_priority[19] = 7;
    assert_eq!(
        RemoteRequest::decode(&bad_priority).unwrap_err(),
        WireError::Invalid("priority")
    );
    let huge_name = RemoteRequest {
        service: "s".repeat(300),
        ..request()
    };
    assert_eq!(
        huge_name.encode().unwrap_err(),
        WireError::TooLarge("service name")
    );
    // A reply naming an error code this build does not know reads as `internal`.
    let reply = RemoteReply {
        id: RequestId(1),
        outcome: Err((ErrorCode::NotFound, "m".into())),
        load: Load::default(),
        pieces: 0,
    };
    let mut frame = reply.encode().unwrap();
    let at = frame.windows(9).position(|w| w == b"not_found").unwrap();
    frame[at..at + 9].copy_from_slice(b"not_known");
    let read = RemoteReply::decode(&frame).unwrap();
    assert_eq!(read.outcome, Err((ErrorCode::Internal, "m".into())));
}

#[test]
fn pieces_and_cancels_round_trip_and_refuse_bad_bytes() {
    let piece = Piece {
        id: RequestId(5),
        seq: 3,
        bytes: "héllo".as_bytes().to_vec(),
    };
    let frame = piece.encode().unwrap();
    assert_eq!(&frame[..7], b"SWRM\x00\x02\x04");
    assert_eq!(&frame[7..19], &[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3]);
    assert_eq!(Piece::decode(&frame).unwrap(), piece);
    let cancel = Cancel {
        id: RequestId(5),
        from: "node-a".into(),
    };
    let cancel_frame = cancel.encode().unwrap();
    assert_eq!(&cancel_frame[..7], b"SWRM\x00\x02\x05");
    assert_eq!(Cancel::decode(&cancel_frame).unwrap(), cancel);
    for n in 0..frame.len() {
        assert!(Piece::decode(&frame[..n]).is_err(), "piece prefix {n}");
    }
    for n in 0..cancel_frame.len() {
        assert!(
            Cancel::decode(&cancel_frame[..n]).is_err(),
            "cancel prefix {n}"
        );
    }
    assert_eq!(Cancel::decode(&frame).unwrap_err(), WireError::Kind(4));
    let mut bad_flag = request().encode().unwrap();
    let at = bad_flag.windows(4).position(|w| w == b"nash").unwrap() + 7;
    bad_flag[at] = 2;
    assert_eq!(
        RemoteRequest::decode(&bad_flag).unwrap_err(),
        WireError::Invalid("streamed flag")
    );
}
