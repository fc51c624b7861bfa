//! Files and images (issue 20) end to end on a real node: an upload is stored and answered with its type
//! from its bytes, a send attaches it, v2 frames, plain frames and history carry it, and it is served to
//! whoever may read its room (with `nosniff`, the sandbox CSP, `inline` only for images, `ETag`,
//! `Range`), and to nobody else; HTML and SVG (also one named `.png`) are attachments; an oversized
//! upload (with or without a length), a decompression bomb and a quota overrun are refused with nothing
//! kept; a JPEG's GPS position is removed and nothing else changed; a large image gets a thumbnail off
//! the request path; a deleted message's file is gone at once and its bytes at the janitor's next pass,
//! as are uploads never attached. On SQLite and PostgreSQL where the store is involved.

use std::io::Cursor;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::conversations::{PATH, ROOM, Sock, acked, refused, town, town_with, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::{PATIENCE, test_config};
use crate::people::Browser;
use crate::rooms::api;

/// A PNG of `width` x `height` with a gradient (so it is not all one colour).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// A multipart body with one part named `file`: its content type and bytes.
fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "chatwebtestboundary7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `who` uploads `bytes` as `name` to `room`: the status and the JSON answer.
pub async fn upload(
    addr: SocketAddr,
    who: &mut Browser,
    room: &str,
    name: &str,
    bytes: &[u8],
) -> (u16, Value) {
    if who.cookie("csrftoken").is_none() {
        who.get("/").await;
    }
    let (content_type, body) = multipart(name, bytes);
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/rooms/{room}/files"))
        .header("cookie", who.cookie_header())
        .header("x-csrftoken", who.cookie("csrftoken").unwrap_or_default())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    let text = response.text().await.expect("answer");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Uploads and expects 201: the file's JSON.
pub async fn uploaded(
    addr: SocketAddr,
    who: &mut Browser,
    room: &str,
    name: &str,
    bytes: &[u8],
) -> Value {
    let (status, body) = upload(addr, who, room, name, bytes).await;
    assert_eq!(status, 201, "{name}: {body}");
    body
}

/// A download as a test reads it.
pub struct Got {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// GETs `path` as `who` (`None`: a guest without cookies), with `extra` headers.
pub async fn fetch(
    addr: SocketAddr,
    who: Option<&Browser>,
    path: &str,
    extra: &[(&str, &str)],
) -> Got {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(who) = who {
        request = request.header("cookie", who.cookie_header());
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("download");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    Got {
        status,
        headers,
        body,
    }
}

/// The next `message` frame of the room on `sock`.
async fn next_message(sock: &mut Sock) -> Value {
    loop {
        let frame = sock.next_event().await;
        if frame["type"] == "message" {
            return frame;
        }
    }
}

/// Regular files under `dir` (the file store's objects, staging files included).
fn stored_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(stored_files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

on_both_engines!(
    files_are_attached_and_served_to_those_who_may_read_the_room,
    files_are_attached_and_served_to_those_who_may_read_the_room_on_sqlite,
    files_are_attached_and_served_to_those_who_may_read_the_room_on_postgres
);

async fn files_are_attached_and_served_to_those_who_may_read_the_room(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let bytes = png(800, 600);
    // The thumbnail is made off the request path: wait for it from before the upload on.
    let stats = town.app.stats.clone();
    let thumbnailed = stats.thumbnailed.notified();
    tokio::pin!(thumbnailed);
    thumbnailed.as_mut().enable();
    let file = uploaded(addr, &mut town.ada, ROOM, "cat.png", &bytes).await;
    let id = file["id"].as_str().expect("id").to_owned();
    assert_eq!(file["name"], "cat.png");
    assert_eq!(file["type"], "image/png");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(800), Some(600))
    );
    let url = format!("/files/{id}/cat.png");
    assert_eq!(file["url"], url);
    let thumb_url = format!("/files/{id}/thumb/cat.png");
    assert_eq!(file["thumb_url"], thumb_url);

    // Not attached yet: its uploader's alone.
    assert_eq!(fetch(addr, Some(&town.ada), &url, &[]).await.status, 200);
    assert_eq!(fetch(addr, Some(&town.carol), &url, &[]).await.status, 404);

    // Attached by a send: v2 frames carry it, plain frames print its name and URL, history has it.
    let mut ada = v2(&town.ada, PATH).await;
    let mut plain = town.app.join(ROOM).await;
    let sent = json!({"message": "look", "files": [id], "client_id": "f1"});
    let message_id = acked(&mut ada, sent.clone()).await;
    let frame = next_message(&mut ada).await;
    assert_eq!(frame["id"], message_id);
    assert_eq!(frame["text"], "look");
    assert_eq!(frame["message"], format!("look\ncat.png {url}"));
    assert_eq!(frame["files"][0]["id"], id.as_str());
    assert_eq!(frame["files"][0]["url"], url);
    assert_eq!(frame["files"][0]["thumb_url"], thumb_url);
    assert_eq!(frame["files"][0]["width"], 800);
    let printed = plain.next_message().await;
    assert_eq!(printed["message"], format!("look\ncat.png {url}"));
    let (status, page) = api(
        addr,
        &mut town.carol,
        "GET",
        &format!("/api/rooms/{ROOM}/messages"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let listed = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"] == message_id)
        .expect("the message in history")
        .clone();
    assert_eq!(listed["message"], "look");
    assert_eq!(listed["files"][0]["url"], url);
    assert_eq!(listed["files"][0]["type"], "image/png");

    // Found by its file's name.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let indexed = stats.search_indexed.notified();
        tokio::pin!(indexed);
        indexed.as_mut().enable();
        let (status, body) = api(addr, &mut town.carol, "GET", "/api/search?q=cat.png", None).await;
        assert_eq!(status, 200, "{body}");
        if body["hits"]
            .as_array()
            .is_some_and(|h| h.iter().any(|h| h["id"] == message_id))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not found by its file's name: {body}"
        );
        let _ = tokio::time::timeout_at(deadline, indexed).await;
    }

    // Sent again with the same client_id: the original, not a refusal for a file already attached.
    let again = crate::conversations::act(&mut ada, sent).await;
    assert_eq!(
        (again["type"].as_str(), again["duplicate"].as_bool()),
        (Some("ack"), Some(true)),
        "{again}"
    );
    assert_eq!(again["id"], message_id);

    // Served to a reader of the public room as uploaded, inline, and safely.
    let got = fetch(addr, Some(&town.carol), &url, &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, bytes);
    assert_eq!(got.header("content-type"), "image/png");
    assert!(
        got.header("content-disposition").starts_with("inline"),
        "{}",
        got.header("content-disposition")
    );
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert_eq!(
        got.header("content-security-policy"),
        "sandbox; default-src 'none'"
    );
    assert!(got.header("cache-control").contains("private"));
    let etag = got.header("etag").to_owned();
    assert_eq!(etag, format!("\"{id}\""));
    // A reload does not fetch it again; a range is served as a part.
    let again = fetch(addr, Some(&town.carol), &url, &[("if-none-match", &etag)]).await;
    assert_eq!((again.status, again.body.len()), (304, 0));
    let part = fetch(addr, Some(&town.carol), &url, &[("range", "bytes=0-9")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, bytes[..10]);
    assert_eq!(
        part.header("content-range"),
        format!("bytes 0-9/{}", bytes.len())
    );
    let past = format!("bytes={}-", bytes.len());
    let beyond = fetch(addr, Some(&town.carol), &url, &[("range", &past)]).await;
    assert_eq!(beyond.status, 416);
    // A guest may read a public room: the file too.
    assert_eq!(fetch(addr, None, &url, &[]).await.status, 200);

    // The thumbnail: 400 px wide, made off the request path.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let thumb = loop {
        let got = fetch(addr, Some(&town.carol), &thumb_url, &[]).await;
        assert_eq!(got.status, 200);
        if got.header("etag") == format!("\"{id}-t\"") {
            break got;
        }
        // Until it is made, the image itself stands in (and is not kept under the thumbnail's URL).
        assert_eq!(got.body, bytes);
        assert_eq!(got.header("cache-control"), "no-cache");
        assert!(tokio::time::Instant::now() < deadline, "no thumbnail made");
        let _ = tokio::time::timeout_at(deadline, thumbnailed.as_mut()).await;
        thumbnailed.set(stats.thumbnailed.notified());
        thumbnailed.as_mut().enable();
    };
    assert_eq!(thumb.header("content-type"), "image/png");
    let small = image::load_from_memory(&thumb.body).expect("the thumbnail decodes");
    assert_eq!((small.width(), small.height()), (400, 300));

    // Attaching: only one's own uploads to this room, each once, at most ten.
    let carols = uploaded(addr, &mut town.carol, ROOM, "c.txt", b"carol's").await;
    let cid = carols["id"].as_str().expect("id");
    refused(
        &mut ada,
        json!({"message": "x", "files": [cid], "client_id": "f2"}),
        "file_not_found",
    )
    .await;
    refused(
        &mut ada,
        json!({"message": "x", "files": [id], "client_id": "f3"}),
        "file_not_found",
    )
    .await;
    let eleven: Vec<String> = (0..11).map(|i| format!("{i:032x}")).collect();
    refused(
        &mut ada,
        json!({"message": "x", "files": eleven, "client_id": "f4"}),
        "invalid_files",
    )
    .await;
    // A message may be files alone.
    let note = uploaded(addr, &mut town.ada, ROOM, "note.txt", b"just a file").await;
    let only = acked(
        &mut ada,
        json!({"message": "", "files": [note["id"]], "client_id": "f5"}),
    )
    .await;
    let frame = next_message(&mut ada).await;
    assert_eq!(
        (frame["id"].as_u64(), frame["text"].as_str()),
        (Some(only), Some(""))
    );
    let note_url = note["url"].as_str().expect("url").to_owned();
    assert_eq!(frame["message"], format!("note.txt {note_url}"));
    assert_eq!(note["type"], "text/plain");
    assert_eq!(note["thumb_url"], Value::Null);

    // A private room's files: its members', nobody else's (not even who can guess the URL).
    let (status, body) = api(
        addr,
        &mut town.ada,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "vault", "kind": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let secret = uploaded(
        addr,
        &mut town.ada,
        "vault",
        "plan.pdf",
        b"%PDF-1.7\nsecret plan",
    )
    .await;
    assert_eq!(secret["type"], "application/pdf");
    let mut vault = v2(&town.ada, "/ws/chat/vault/").await;
    acked(
        &mut vault,
        json!({"message": "the plan", "files": [secret["id"]], "client_id": "v1"}),
    )
    .await;
    let secret_url = secret["url"].as_str().expect("url");
    let got = fetch(addr, Some(&town.ada), secret_url, &[]).await;
    assert_eq!(got.status, 200);
    assert!(got.header("content-disposition").starts_with("attachment"));
    assert_eq!(
        fetch(addr, Some(&town.carol), secret_url, &[]).await.status,
        404
    );
    assert_eq!(fetch(addr, None, secret_url, &[]).await.status, 404);
    let (status, body) = upload(addr, &mut town.carol, "vault", "x.txt", b"x").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    // Guests upload nothing unless the server allows it.
    let mut guest = Browser::new(addr);
    let (status, body) = upload(addr, &mut guest, ROOM, "g.txt", b"g").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("login_required")),
        "{body}"
    );

    // A deleted message's file is gone at once.
    acked(
        &mut ada,
        json!({"type": "delete", "id": message_id, "client_id": "d1"}),
    )
    .await;
    assert_eq!(fetch(addr, Some(&town.ada), &url, &[]).await.status, 404);
    assert_eq!(
        fetch(addr, Some(&town.ada), &thumb_url, &[]).await.status,
        404
    );
    let (_, page) = api(
        addr,
        &mut town.carol,
        "GET",
        &format!("/api/rooms/{ROOM}/messages"),
        None,
    )
    .await;
    let tomb = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"] == message_id)
        .expect("the tombstone")
        .clone();
    assert!(tomb.get("files").is_none(), "{tomb}");
    ada.close().await;
    vault.close().await;
    town.app.stop().await;
}

#[tokio::test]
async fn html_and_svg_are_never_served_inline_whatever_their_name() {
    let db = Database::sqlite();
    let mut town = town(&db).await;
    let addr = town.app.addr;
    for (name, bytes) in [
        (
            "page.html",
            &b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"[..],
        ),
        (
            "logo.svg",
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"[..],
        ),
        // HTML named as an image: its bytes decide.
        (
            "cat.png",
            &b"<html><body><script>alert(1)</script></body></html>"[..],
        ),
    ] {
        let file = uploaded(addr, &mut town.ada, ROOM, name, bytes).await;
        let kind = file["type"].as_str().expect("type");
        assert!(!kind.starts_with("image/png"), "{name} claimed {kind}");
        assert_eq!(file["width"], Value::Null, "{name}");
        assert_eq!(file["thumb_url"], Value::Null, "{name}");
        let got = fetch(
            addr,
            Some(&town.ada),
            file["url"].as_str().expect("url"),
            &[],
        )
        .await;
        assert_eq!(got.status, 200, "{name}");
        assert_eq!(got.body, bytes, "{name}: served byte for byte");
        assert!(
            got.header("content-disposition").starts_with("attachment"),
            "{name}: {}",
            got.header("content-disposition")
        );
        assert_eq!(
            got.header("content-security-policy"),
            "sandbox; default-src 'none'"
        );
        assert_eq!(got.header("x-content-type-options"), "nosniff");
        assert!(
            !got.header("content-type").contains("html"),
            "{name}: {}",
            got.header("content-type")
        );
        assert!(
            !got.header("content-type").contains("svg"),
            "{name}: {}",
            got.header("content-type")
        );
    }
    town.app.stop().await;
    db.done().await;
}

/// Sends a multipart upload of `size` bytes of `byte` by hand, in chunked transfer coding (no length the
/// server could refuse it by up front): the status line's code and the body.
async fn upload_chunked(addr: SocketAddr, who: &Browser, size: usize) -> (u16, String) {
    let (content_type, body) = multipart("big.bin", &vec![7u8; size]);
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/rooms/{ROOM}/files HTTP/1.1\r\nHost: {addr}\r\nCookie: {}\r\nX-CSRFToken: {}\r\n\
         Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        who.cookie_header(),
        who.cookie("csrftoken").unwrap_or_default()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    // The server may answer (and stop reading) before all is sent: write errors end the sending.
    for chunk in body.chunks(64 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, answer)
}

#[tokio::test]
async fn oversized_uploads_bombs_and_quota_overruns_are_refused_and_nothing_is_kept() {
    let db = Database::sqlite();
    let Database::Sqlite(dir) = &db else {
        unreachable!("a SQLite database")
    };
    let files_dir = dir.path().join("files");
    let config = chatweb::config::Config {
        upload_quota_bytes: 27 * 1024 * 1024,
        ..test_config(db.url())
    };
    let mut town = town_with(&db, config).await;
    let addr = town.app.addr;
    // 30 MiB, past the default 25 MiB: refused by its length, and again sent without one.
    let (status, body) = upload(
        addr,
        &mut town.ada,
        ROOM,
        "big.bin",
        &vec![0u8; 30 * 1024 * 1024],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    let (status, answer) = upload_chunked(addr, &town.ada, 30 * 1024 * 1024).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("too_large"), "{answer}");
    assert!(
        stored_files(&files_dir).is_empty(),
        "{:?}",
        stored_files(&files_dir)
    );

    // A PNG whose header claims 100,000 x 100,000 pixels: refused before anything decodes it.
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bomb.extend(100_000u32.to_be_bytes());
    bomb.extend(100_000u32.to_be_bytes());
    bomb.extend([8, 2, 0, 0, 0]);
    bomb.extend(crc32fast::hash(&bomb[12..]).to_be_bytes());
    bomb.extend(b"\0\0\0\x02IDAT\x78\x9c");
    bomb.extend(crc32fast::hash(b"IDAT\x78\x9c").to_be_bytes());
    let (status, body) = upload(addr, &mut town.ada, ROOM, "bomb.png", &bomb).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("image_too_large")),
        "{body}"
    );
    assert!(stored_files(&files_dir).is_empty());

    // The daily quota (27 MiB here): 20 MiB pass, 10 MiB more do not.
    uploaded(
        addr,
        &mut town.ada,
        ROOM,
        "a.bin",
        &vec![1u8; 20 * 1024 * 1024],
    )
    .await;
    let (status, body) = upload(
        addr,
        &mut town.ada,
        ROOM,
        "b.bin",
        &vec![1u8; 10 * 1024 * 1024],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("quota_exceeded")),
        "{body}"
    );
    assert_eq!(
        stored_files(&files_dir).len(),
        1,
        "{:?}",
        stored_files(&files_dir)
    );
    // Someone else's quota is their own.
    uploaded(
        addr,
        &mut town.carol,
        ROOM,
        "c.bin",
        &vec![1u8; 10 * 1024 * 1024],
    )
    .await;
    town.app.stop().await;
    db.done().await;
}

/// A little-endian TIFF structure with an orientation entry and a GPS directory holding a latitude.
fn exif_with_gps() -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes());
    t.extend(2u16.to_le_bytes());
    t.extend([0x12, 0x01, 3, 0]);
    t.extend(1u32.to_le_bytes());
    t.extend([1, 0, 0, 0]);
    t.extend([0x25, 0x88, 4, 0]);
    t.extend(1u32.to_le_bytes());
    t.extend(38u32.to_le_bytes());
    t.extend(0u32.to_le_bytes());
    t.extend(1u16.to_le_bytes());
    t.extend([2, 0, 5, 0]); // GPSLatitude: 3 rationals at 56
    t.extend(3u32.to_le_bytes());
    t.extend(56u32.to_le_bytes());
    t.extend(0u32.to_le_bytes());
    for (n, d) in [(52u32, 1u32), (31, 1), (471_199, 10_000)] {
        t.extend(n.to_le_bytes());
        t.extend(d.to_le_bytes());
    }
    t
}

#[tokio::test]
async fn a_jpegs_gps_position_is_removed_and_nothing_else_changes() {
    let db = Database::sqlite();
    let mut town = town(&db).await;
    let addr = town.app.addr;
    let image = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
    let mut jpeg = Cursor::new(Vec::new());
    image
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .expect("jpeg");
    let jpeg = jpeg.into_inner();
    // SOI, then an APP1 EXIF segment with the position, then the rest of the camera's file.
    let tiff = exif_with_gps();
    let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE1];
    photo.extend(
        u16::try_from(2 + 6 + tiff.len())
            .expect("length")
            .to_be_bytes(),
    );
    photo.extend(b"Exif\0\0");
    photo.extend(&tiff);
    photo.extend(&jpeg[2..]);
    let latitude = 471_199u32.to_le_bytes();
    assert!(photo.windows(4).any(|w| w == latitude));
    let file = uploaded(addr, &mut town.ada, ROOM, "IMG_0001.JPG", &photo).await;
    assert_eq!(file["type"], "image/jpeg");
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(64), Some(48))
    );
    let got = fetch(
        addr,
        Some(&town.ada),
        file["url"].as_str().expect("url"),
        &[],
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.len(), photo.len());
    assert!(
        !got.body.windows(4).any(|w| w == latitude),
        "the latitude is still there"
    );
    // Only the GPS directory changed: the header, IFD0 (orientation included) and the image are as sent.
    let gps_at = 4 + 2 + 6 + 38;
    assert_eq!(got.body[..gps_at], photo[..gps_at]);
    let image_at = 4 + 2 + 6 + tiff.len();
    assert_eq!(got.body[image_at..], photo[image_at..]);
    assert!(got.body[gps_at..image_at].iter().all(|&b| b == 0));
    let decoded = image::load_from_memory(&got.body).expect("still a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (64, 48));
    town.app.stop().await;
    db.done().await;
}

#[tokio::test]
async fn the_janitor_removes_deleted_messages_files_and_uploads_never_attached() {
    let db = Database::sqlite();
    let Database::Sqlite(dir) = &db else {
        unreachable!("a SQLite database")
    };
    let files_dir = dir.path().join("files");
    let config = chatweb::config::Config {
        files_sweep_ms: 50,
        upload_expiry_secs: 3600,
        ..test_config(db.url())
    };
    let mut town = town_with(&db, config).await;
    let addr = town.app.addr;
    let kept = uploaded(addr, &mut town.ada, ROOM, "kept.txt", b"kept").await;
    let gone = uploaded(addr, &mut town.ada, ROOM, "gone.txt", b"gone").await;
    let mut ada = v2(&town.ada, PATH).await;
    acked(
        &mut ada,
        json!({"message": "k", "files": [kept["id"]], "client_id": "k"}),
    )
    .await;
    let id = acked(
        &mut ada,
        json!({"message": "g", "files": [gone["id"]], "client_id": "g"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "delete", "id": id, "client_id": "d"}),
    )
    .await;
    let gone_id = gone["id"].as_str().expect("id").to_owned();
    swept_until(&town.app.stats, || {
        stored_files(&files_dir)
            .iter()
            .all(|p| !p.to_string_lossy().contains(&gone_id))
    })
    .await;
    assert_eq!(
        stored_files(&files_dir).len(),
        1,
        "{:?}",
        stored_files(&files_dir)
    );
    let got = fetch(
        addr,
        Some(&town.ada),
        kept["url"].as_str().expect("url"),
        &[],
    )
    .await;
    assert_eq!((got.status, got.body.as_slice()), (200, &b"kept"[..]));
    ada.close().await;
    town.app.stop().await;

    // Uploads never attached go when they expire (at once here).
    let config = chatweb::config::Config {
        files_sweep_ms: 50,
        upload_expiry_secs: 0,
        ..test_config(db.url())
    };
    let app = crate::helpers::spawn_app_with(config).await;
    let mut ada = Browser::new(app.addr);
    ada.log_in("ada", crate::people::PASSWORD).await;
    let orphan = uploaded(app.addr, &mut ada, ROOM, "orphan.txt", b"never sent").await;
    let orphan_id = orphan["id"].as_str().expect("id").to_owned();
    swept_until(&app.stats, || {
        stored_files(&files_dir)
            .iter()
            .all(|p| !p.to_string_lossy().contains(&orphan_id))
    })
    .await;
    assert_eq!(
        fetch(
            app.addr,
            Some(&ada),
            orphan["url"].as_str().expect("url"),
            &[]
        )
        .await
        .status,
        404
    );
    // The attached file stays.
    assert_eq!(stored_files(&files_dir).len(), 1);
    app.stop().await;
    db.done().await;
}

/// Awaits janitor passes until `done` holds (within the patience).
async fn swept_until(stats: &chatweb::stats::Stats, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let pass = stats.files_swept.notified();
        tokio::pin!(pass);
        pass.as_mut().enable();
        if done() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the janitor did not remove it"
        );
        let _ = tokio::time::timeout_at(deadline, pass).await;
    }
}
