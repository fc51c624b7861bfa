//! Files in two real browsers: one page attaches a PNG by dropping it on the room and another by pasting
//! it into the message box (files the page makes itself, with a canvas), each uploaded with a progress bar
//! into the tray, and sends them with one message; the other page sees both images live, at their
//! reserved size, loaded from the server's thumbnail or file URL, linking to the full image. A text file
//! sent alone shows as a download card with its name, type and size; both survive a reload (history).
//! The room with files passes axe wide and narrow, light and dark, and is photographed
//! (`docs/screenshots/files-*.png`). An upload on a slow link shows its progress and Cancel stops it;
//! a decompression bomb's refusal and a file too large are said in words.

use fantoccini::Client;
use serde_json::{Value, json};

use super::axe::{VIEWS, axe, screenshot_dir};
use super::{enter, script, sign_up};
use crate::chromium::{
    axe_source, cdp, click_css, emulate, screenshot_to, type_message, wait_open, wait_until,
    with_browsers,
};

/// Makes a file in the page and hands it to the room as a person would: `drop` dispatches
/// dragenter/dragover/drop on the log, `paste` a paste into the message box. `spec` is
/// `{name, png: [width, height, colour]}` for a PNG drawn on a canvas, `{name, text, type}`, or
/// `{name, bytes, type}` for that many zero bytes, or `{name, bomb: [width, height]}` for a PNG whose
/// header claims that size (valid chunks and CRCs, next to no pixel data: a decompression bomb's shape).
/// Returns what the page did with the events (`prevented`: whether it took the drop or the paste).
async fn hand_over(page: &Client, how: &str, spec: Value) -> Value {
    const SCRIPT: &str = r"
        const [how, spec, done] = arguments;
        const crc32 = (bytes) => {
          let c = ~0;
          for (const b of bytes) {
            c ^= b;
            for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
          }
          return ~c >>> 0;
        };
        const chunk = (type, data) => {
          const out = new Uint8Array(12 + data.length);
          const view = new DataView(out.buffer);
          view.setUint32(0, data.length);
          out.set(Array.from(type, (ch) => ch.charCodeAt(0)), 4);
          out.set(data, 8);
          view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
          return out;
        };
        const bomb = (w, h) => {
          const header = new Uint8Array(13);
          const view = new DataView(header.buffer);
          view.setUint32(0, w);
          view.setUint32(4, h);
          header.set([8, 2, 0, 0, 0], 8);
          const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header),
            chunk('IDAT', new Uint8Array([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])), chunk('IEND', new Uint8Array())];
          return new File(parts, spec.name, { type: 'image/png' });
        };
        const made = spec.bomb ? Promise.resolve(bomb(...spec.bomb)) : spec.png
          ? new Promise((resolve) => {
              const [w, h, colour] = spec.png;
              const canvas = document.createElement('canvas');
              canvas.width = w;
              canvas.height = h;
              const ctx = canvas.getContext('2d');
              ctx.fillStyle = colour;
              ctx.fillRect(0, 0, w, h);
              ctx.fillStyle = '#fff';
              ctx.fillRect(w / 4, h / 4, w / 2, h / 2);
              canvas.toBlob((blob) => resolve(new File([blob], spec.name, { type: 'image/png' })), 'image/png');
            })
          : Promise.resolve(new File([spec.bytes ? new Uint8Array(spec.bytes) : spec.text], spec.name, { type: spec.type }));
        made.then((file) => {
          const data = new DataTransfer();
          data.items.add(file);
          const init = { bubbles: true, cancelable: true };
          if (how === 'drop') {
            const log = document.getElementById('chat-log');
            const events = ['dragenter', 'dragover', 'drop'].map((type) =>
              new DragEvent(type, Object.assign({ dataTransfer: data }, init)));
            events.slice(0, 2).forEach((e) => log.dispatchEvent(e));
            const marked = document.getElementById('room').classList.contains('drop-target');
            log.dispatchEvent(events[2]);
            done({ prevented: events.every((e) => e.defaultPrevented), marked,
                   after: document.getElementById('room').classList.contains('drop-target'), size: file.size });
          } else {
            const box = document.getElementById('chat-message-input');
            box.focus();
            const paste = new ClipboardEvent('paste', Object.assign({ clipboardData: data }, init));
            box.dispatchEvent(paste);
            done({ prevented: paste.defaultPrevented, value: box.value, size: file.size });
          }
        }, (error) => done({ error: String(error) }));
    ";
    page.execute_async(SCRIPT, vec![json!(how), spec])
        .await
        .expect("hand a file to the page")
}

/// Waits until the tray holds `n` finished uploads and nothing else; their names, in order.
async fn wait_for_tray(page: &Client, n: usize) -> Value {
    wait_until(
        page,
        &format!(
            "const items = Array.from(document.querySelectorAll('#attachment-list li'));
             if (document.querySelector('#attachment-list li.failed')) {{
               throw new Error('an upload failed: ' + document.getElementById('attachment-list').textContent);
             }}
             return items.length === {n} && items.every((li) => li.classList.contains('done'))
               && !document.getElementById('attachments').hidden
               && items.map((li) => li.querySelector('.attachment-name').textContent);"
        ),
        &format!("{n} finished uploads in the tray"),
    )
    .await
}

/// The images of the message whose text is `text`, once all `n` have loaded (decoded, with pixels):
/// their alt, src, width and height attributes, link, and whether their box keeps their shape.
async fn wait_for_images(page: &Client, text: &str, n: usize) -> Value {
    let script = format!(
        "const li = Array.from(document.querySelectorAll('#messages li.msg[data-id]'))
           .find((li) => li.querySelector('.text')?.textContent === {text:?});
         if (!li) return false;
         const imgs = Array.from(li.querySelectorAll('img.file-image'));
         if (imgs.length !== {n} || !imgs.every((i) => i.complete && i.naturalWidth > 0)) return false;
         return {{ id: Number(li.dataset.id), images: imgs.map((i) => {{
           const link = i.closest('a');
           const box = i.getBoundingClientRect();
           return {{ alt: i.alt, src: new URL(i.src).pathname, width: i.getAttribute('width'),
                    height: i.getAttribute('height'), href: link && new URL(link.href).pathname,
                    target: link && link.target,
                    shape: Math.abs(box.width / box.height
                      - Number(i.getAttribute('width')) / Number(i.getAttribute('height'))) < 0.02 }};
         }}) }};"
    );
    wait_until(page, &script, &format!("{n} images loaded in {text:?}")).await
}

/// The files of message `id` as the history API gives them.
async fn api_files(page: &Client, room: &str, id: u64) -> Value {
    let value = page
        .execute_async(
            &format!(
                "const done = arguments[0];
                 fetch('/api/rooms/{room}/messages', {{ headers: {{ Accept: 'application/json' }} }})
                   .then((r) => r.json())
                   .then((body) => done(body.messages.find((m) => m.id === {id}) || null), (e) => done(String(e)));"
            ),
            vec![],
        )
        .await
        .expect("ask the history API");
    assert!(value.is_object(), "message {id} in the API: {value}");
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_dropped_and_pasted_reach_the_other_page_live_and_other_files_show_as_cards() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, bob]: [Client; 2] = browsers.try_into().expect("two browsers");
        sign_up(&ada, &origin, "ada").await;
        sign_up(&bob, &origin, "bob").await;
        enter(&ada, &origin, "gallery").await;
        enter(&bob, &origin, "gallery").await;

        // Ada drops a large PNG on the room, then pastes a small one into the box.
        let dropped = hand_over(&ada, "drop", json!({"name": "red.png", "png": [640, 480, "#c0392b"]})).await;
        assert_eq!(dropped["prevented"], true, "the room takes the drop: {dropped}");
        assert_eq!(dropped["marked"], true, "the room shows it is a drop target: {dropped}");
        assert_eq!(dropped["after"], false, "and stops once the file is dropped: {dropped}");
        assert_eq!(wait_for_tray(&ada, 1).await, json!(["red.png"]));
        let pasted = hand_over(&ada, "paste", json!({"name": "blue.png", "png": [120, 90, "#1f5fbf"]})).await;
        assert_eq!(pasted["prevented"], true, "a pasted image is attached: {pasted}");
        assert_eq!(pasted["value"], "", "and its name is not pasted as text: {pasted}");
        assert_eq!(wait_for_tray(&ada, 2).await, json!(["red.png", "blue.png"]));
        let status = script(&ada, "return document.getElementById('attach-status').textContent").await;
        assert_eq!(status, "blue.png is ready to send.");

        // Enter sends the text with both files; the tray empties.
        type_message(&ada, "two pictures").await;
        wait_until(
            &ada,
            "return document.getElementById('attachments').hidden
                && document.querySelectorAll('#attachment-list li').length === 0",
            "the tray empties on send",
        )
        .await;

        // Bob sees both live: the big one shrunk to 400 x 300, the small one at its own size, each from
        // the server's thumbnail (or the file, when it needs none), linking to the full image.
        let shown = wait_for_images(&bob, "two pictures", 2).await;
        let id = shown["id"].as_u64().expect("an id");
        let message = api_files(&bob, "gallery", id).await;
        assert_eq!(message["message"], "two pictures", "the API's message is the own text: {message}");
        let files = message["files"].as_array().expect("files in the API").clone();
        assert_eq!(files.len(), 2, "{message}");
        let expect: Vec<Value> = files
            .iter()
            .zip([("400", "300"), ("120", "90")])
            .map(|(f, (w, h))| {
                let src = f["thumb_url"].as_str().or(f["url"].as_str()).expect("a url");
                json!({"alt": f["name"], "src": src, "width": w, "height": h, "href": f["url"],
                       "target": "_blank", "shape": true})
            })
            .collect();
        assert_eq!(shown["images"], json!(expect), "API files: {files:?}");
        assert_eq!(files[0]["name"], "red.png");
        assert_eq!(files[0]["type"], "image/png");
        assert_eq!((files[0]["width"].as_u64(), files[0]["height"].as_u64()), (Some(640), Some(480)));
        assert_eq!(files[1]["name"], "blue.png");
        assert!(
            files[0]["thumb_url"].is_string() && files[1]["thumb_url"].is_null(),
            "a thumbnail for the image larger than 400 x 400 only: {files:?}"
        );
        wait_for_images(&ada, "two pictures", 2).await;

        // A text file, dropped and sent alone (Enter in an empty box): a card that downloads it.
        let note = hand_over(&ada, "drop", json!({"name": "notes.txt", "text": "hello files\n", "type": "text/plain"})).await;
        assert_eq!(note["size"], 12, "{note}");
        assert_eq!(wait_for_tray(&ada, 1).await, json!(["notes.txt"]));
        type_message(&ada, "").await;
        let card_of = "const card = document.querySelector('#messages li.msg[data-id] a.file-card');
             return card && { name: card.querySelector('.file-name').textContent,
                              meta: card.querySelector('.file-meta').textContent,
                              href: new URL(card.href).pathname, download: card.getAttribute('download'),
                              text: card.closest('li.msg').querySelector('.text').textContent,
                              id: Number(card.closest('li.msg').dataset.id) };";
        let card = wait_until(&bob, card_of, "a card for notes.txt").await;
        let note_id = card["id"].as_u64().expect("an id");
        let noted = api_files(&bob, "gallery", note_id).await;
        let file = &noted["files"][0];
        assert_eq!(
            card,
            json!({"name": "notes.txt", "meta": format!("{} · 12 bytes", file["type"].as_str().unwrap_or("file")),
                   "href": file["url"], "download": "notes.txt", "text": "", "id": note_id}),
            "the API's file: {file}"
        );
        assert!(file["thumb_url"].is_null() && file["width"].is_null(), "{file}");

        // History: after a reload both messages show the same way.
        bob.refresh().await.expect("reload");
        wait_open(&bob).await;
        assert_eq!(wait_for_images(&bob, "two pictures", 2).await, shown);
        assert_eq!(wait_until(&bob, card_of, "the card after a reload").await, card);

        // axe with the files shown, wide and narrow, light and dark; the images fit the log.
        let dir = screenshot_dir();
        let axe_js = axe_source();
        let mut problems = Vec::new();
        for (width, height, scheme) in VIEWS {
            emulate(&bob, width, height, scheme).await;
            let fits = wait_for_images(&bob, "two pictures", 2).await;
            assert!(fits["images"].as_array().expect("images").iter().all(|i| i["shape"] == true), "{width}: {fits}");
            let overflow = script(
                &bob,
                "const log = document.getElementById('chat-log'); return log.scrollWidth - log.clientWidth;",
            )
            .await;
            assert_eq!(overflow, 0, "nothing wider than the log at {width} px");
            script(&bob, "document.querySelector('#messages li.msg:last-child').scrollIntoView(); return true;").await;
            for v in axe(&bob, axe_js.as_deref()).await {
                problems.push(format!("room with files {width} {scheme}: {v}"));
            }
            screenshot_to(&bob, &dir.join(format!("files-{width}-{scheme}.png"))).await;
        }
        // Ada's tray with an upload in it, for axe too.
        hand_over(&ada, "drop", json!({"name": "plan.txt", "text": "x", "type": "text/plain"})).await;
        wait_for_tray(&ada, 1).await;
        for v in axe(&ada, axe_js.as_deref()).await {
            problems.push(format!("room with a file in the tray: {v}"));
        }
        assert!(
            problems.is_empty(),
            "axe-core found serious or critical problems:\n{}",
            problems.join("\n")
        );

        // The keyboard: the chip's Remove button takes it out of the tray.
        click_css(&ada, "#attachment-list li.done .attachment-button").await;
        wait_until(
            &ada,
            "return document.getElementById('attachments').hidden
                && document.activeElement.id === 'chat-message-input'",
            "the chip is removed and the focus is back in the box",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_on_a_slow_link_shows_its_progress_cancel_stops_it_and_a_refusal_is_said_in_words()
 {
    with_browsers(1, |browsers, node| async move {
        let origin = node.origin;
        let ada = browsers[0].clone();
        sign_up(&ada, &origin, "ada").await;
        enter(&ada, &origin, "slow").await;
        // 2 MB at 256 KB/s: eight seconds of upload, time enough to see it going and cancel it.
        cdp(&ada, "Network.enable", json!({})).await;
        cdp(
            &ada,
            "Network.emulateNetworkConditions",
            json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024}),
        )
        .await;
        let big = json!({"name": "big.bin", "bytes": 2 * 1024 * 1024, "type": "application/octet-stream"});
        hand_over(&ada, "drop", big).await;
        wait_until(
            &ada,
            "const p = document.querySelector('#attachment-list li.uploading progress');
             return p && p.value > 0 && p.value < p.max
               && p.getAttribute('aria-label') === 'Uploading big.bin';",
            "the upload's progress shows",
        )
        .await;
        click_css(&ada, "#attachment-list li.uploading .attachment-button").await;
        wait_until(
            &ada,
            "return document.getElementById('attachments').hidden
                && document.getElementById('attach-status').textContent === 'Upload of big.bin cancelled.'",
            "the cancelled upload leaves the tray",
        )
        .await;
        cdp(
            &ada,
            "Network.emulateNetworkConditions",
            json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        )
        .await;
        // Enter in an empty box with nothing attached sends nothing.
        type_message(&ada, "").await;
        let pending = script(&ada, "return document.querySelectorAll('#messages li.msg').length").await;
        assert_eq!(pending, 0);

        // An image of 400 million pixels is refused (422 image_too_large): the tray says so in words, and
        // Dismiss takes the line away.
        hand_over(&ada, "paste", json!({"name": "bomb.png", "bomb": [20000, 20000]})).await;
        let refusal = wait_until(
            &ada,
            "const li = document.querySelector('#attachment-list li.failed');
             return li && li.querySelector('.attachment-error').textContent;",
            "the refusal shows",
        )
        .await;
        assert_eq!(refusal, "is an image with too many pixels to take");
        let said = script(&ada, "return document.getElementById('attach-status').textContent").await;
        assert_eq!(said, "bomb.png is an image with too many pixels to take.");
        click_css(&ada, "#attachment-list li.failed .attachment-button").await;
        wait_until(
            &ada,
            "return document.getElementById('attachments').hidden",
            "the refusal is dismissed",
        )
        .await;

        // A file over the server's 25 MiB (413 too_large; or refused before it goes, when the page knows
        // the limit).
        let huge = json!({"name": "huge.bin", "bytes": 25 * 1024 * 1024 + 1, "type": "application/octet-stream"});
        hand_over(&ada, "drop", huge).await;
        let refusal = wait_until(
            &ada,
            "const li = document.querySelector('#attachment-list li.failed');
             return li && li.querySelector('.attachment-error').textContent;",
            "the refusal of a file too large shows",
        )
        .await;
        assert!(
            refusal.as_str().is_some_and(|r| r.starts_with("is larger than this server accepts")),
            "{refusal}"
        );
    })
    .await;
}
