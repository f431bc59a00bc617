//! Files chosen in the import's file input: read in the browser, the YAML one
//! taken as the file and the others sent with it by name.

use std::collections::BTreeMap;

/// The chosen files as (name, text or unreadable): which one is the file, and the
/// others by the path a Compose `env_file` names them with (`app.env` and
/// `./app.env`, both written for a file beside it). `pasted`: the textarea has a
/// file already, so chosen files without YAML go with it.
// Only the browser reads uploads; the server build keeps it for the unit test.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub fn take_upload(
    read: Vec<(String, Option<String>)>,
    pasted: bool,
) -> Result<(Option<String>, BTreeMap<String, String>), String> {
    let mut texts = Vec::new();
    for (name, text) in read {
        texts.push((
            name.clone(),
            text.ok_or_else(|| format!("{name} could not be read as text"))?,
        ));
    }
    let yaml = |n: &str| {
        let n = n.to_ascii_lowercase();
        n.ends_with(".yml") || n.ends_with(".yaml")
    };
    let main = match texts.iter().filter(|(n, _)| yaml(n)).count() {
        0 if texts.len() == 1 && !pasted => Some(0),
        0 => None,
        1 => texts.iter().position(|(n, _)| yaml(n)),
        _ => return Err(
            "choose one .yml or .yaml file (the stack or Compose file) and the files it refers to"
                .into(),
        ),
    };
    let main_text = main.map(|i| texts.remove(i).1);
    let mut files = BTreeMap::new();
    for (name, text) in texts {
        files.insert(format!("./{name}"), text.clone());
        files.insert(name, text);
    }
    Ok((main_text, files))
}

/// Reads the files chosen in a file input, in the browser, and hands them to
/// `done` once all are read.
#[cfg(feature = "hydrate")]
pub fn read_chosen(ev: &leptos::ev::Event, done: impl Fn(Vec<(String, Option<String>)>) + 'static) {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::JsCast;

    let input: web_sys::HtmlInputElement = leptos::prelude::event_target(ev);
    let Some(list) = input.files() else { return };
    let chosen: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.item(i)).collect();
    let want = chosen.len();
    let read = Rc::new(RefCell::new(Vec::with_capacity(want)));
    let done = Rc::new(done);
    for file in chosen {
        let name = file.name();
        let Ok(reader) = web_sys::FileReader::new() else {
            read.borrow_mut().push((name, None));
            continue;
        };
        let (r, read, done) = (reader.clone(), read.clone(), done.clone());
        let on_end =
            wasm_bindgen::closure::Closure::once_into_js(move |_: wasm_bindgen::JsValue| {
                let text = r.result().ok().and_then(|v| v.as_string());
                read.borrow_mut().push((name, text));
                if read.borrow().len() == want {
                    done(read.take());
                }
            });
        reader.set_onloadend(Some(on_end.unchecked_ref()));
        let _ = reader.read_as_text(&file);
    }
}

#[cfg(test)]
mod tests {
    use super::take_upload;

    #[test]
    fn the_yaml_file_is_the_file_and_the_others_go_with_it() {
        let read = vec![
            ("app.env".to_string(), Some("A=1".to_string())),
            ("compose.yml".to_string(), Some("services: {}".to_string())),
        ];
        let (main, files) = take_upload(read, false).unwrap();
        assert_eq!(main.as_deref(), Some("services: {}"));
        assert_eq!(files.keys().collect::<Vec<_>>(), ["./app.env", "app.env"]);
        let two = vec![
            ("a.yml".into(), Some(String::new())),
            ("b.yaml".into(), Some(String::new())),
        ];
        assert!(take_upload(two, false).is_err());
        let env_only = vec![("app.env".to_string(), Some("A=1".to_string()))];
        assert_eq!(take_upload(env_only.clone(), true).unwrap().0, None);
        assert_eq!(
            take_upload(env_only, false).unwrap().0.as_deref(),
            Some("A=1")
        );
        assert!(take_upload(vec![("x.yml".into(), None)], false).is_err());
    }
}
