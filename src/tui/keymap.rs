//! Key bindings as data. One table ([`ACTIONS`]) names every action, its help text, its footer
//! label and its default keys; the footer hints and the `?` help overlay are both rendered from a
//! [`KeyMap`] built from it, so they can never disagree with the keys that really work.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Everything a key can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    SwitchPane,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Left,
    Right,
    LineStart,
    LineEnd,
    Zoom,
    WiderTree,
    NarrowerTree,
    Open,
    Find,
    Edit,
    Dump,
    Reset,
    Mark,
    Pause,
    Faster,
    Slower,
    ToggleAllFiles,
    CycleSort,
    Export,
    NextMissed,
    PrevMissed,
    NextFileWithMisses,
    PrevFileWithMisses,
    ReverseSort,
    MissesOnly,
    CycleLanguage,
    CycleTarget,
    FocusTree,
    FocusSource,
    CopyLocation,
    GotoLine,
    Diagnostics,
    Notices,
    Freeze,
}

/// Where an action applies; the help overlay groups by it and the footer shows the actions of
/// the focused pane plus the global ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Tree,
    Source,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "everywhere",
            Scope::Tree => "file tree",
            Scope::Source => "source",
        }
    }
}

/// One row of the action table.
pub struct ActionSpec {
    pub action: Action,
    /// The name used in `[keys]` overrides of covtop.toml.
    pub name: &'static str,
    /// The help overlay text.
    pub description: &'static str,
    /// The footer label; `None` keeps the action out of the footer (help only).
    pub hint: Option<&'static str>,
    pub scope: Scope,
    pub default_keys: &'static [&'static str],
}

/// The action table, in help order.
#[rustfmt::skip]
pub const ACTIONS: &[ActionSpec] = &[
    spec(Action::Quit, "quit", "Quit covtop", Some("quit"), Scope::Global, &["q", "ctrl-c"]),
    spec(Action::Help, "help", "Show or hide this help", Some("help"), Scope::Global, &["?"]),
    spec(Action::SwitchPane, "switch-pane", "Switch between the file tree and the source", Some("pane"), Scope::Global, &["tab", "backtab"]),
    spec(Action::Up, "up", "Move up", None, Scope::Global, &["k", "up"]),
    spec(Action::Down, "down", "Move down", None, Scope::Global, &["j", "down"]),
    spec(Action::PageUp, "page-up", "Move up one page", None, Scope::Global, &["pgup"]),
    spec(Action::PageDown, "page-down", "Move down one page", None, Scope::Global, &["pgdown"]),
    spec(Action::Top, "top", "Go to the first row or line", None, Scope::Global, &["g"]),
    spec(Action::Bottom, "bottom", "Go to the last row or line", None, Scope::Global, &["G"]),
    spec(Action::Left, "left", "Tree: fold the folder, or go to its folder; source: scroll left, at the first column back to the tree", None, Scope::Global, &["h", "left"]),
    spec(Action::Right, "right", "Tree: unfold the folder, or show the file; source: scroll right", None, Scope::Global, &["l", "right"]),
    spec(Action::LineStart, "line-start", "Source: back to the first column; tree: first row", None, Scope::Global, &["home", "0"]),
    spec(Action::LineEnd, "line-end", "Source: scroll to the end of the longest line on screen; tree: last row", None, Scope::Global, &["end", "$"]),
    spec(Action::Zoom, "zoom", "Zoom the focused pane to the whole width, or back", Some("zoom"), Scope::Global, &["z"]),
    spec(Action::WiderTree, "wider-tree", "Widen the file tree", None, Scope::Global, &[">"]),
    spec(Action::NarrowerTree, "narrower-tree", "Narrow the file tree", None, Scope::Global, &["<"]),
    spec(Action::Open, "open", "Open a file, collapse or expand a folder", Some("open"), Scope::Tree, &["enter"]),
    spec(Action::Find, "find", "Find a file by fuzzy name", Some("find"), Scope::Global, &["/"]),
    spec(Action::Edit, "edit", "Open the file at the cursor's line in $VISUAL or $EDITOR (the working-tree file; the screen comes back when the editor exits)", Some("edit"), Scope::Global, &["o"]),
    spec(Action::Dump, "dump", "Dump now: take a snapshot and store it", Some("dump"), Scope::Global, &["d"]),
    spec(Action::Reset, "reset", "Reset the agents' coverage (asks first; dumps before)", Some("reset"), Scope::Global, &["r"]),
    spec(Action::Mark, "mark", "Mark: measure \"newly hit\" from now on (again: clear the mark)", Some("mark"), Scope::Global, &["m"]),
    spec(Action::Pause, "pause", "Pause or resume polling", Some("pause"), Scope::Global, &["p"]),
    spec(Action::Faster, "faster", "Poll twice as often (down to 250 ms)", None, Scope::Global, &["-"]),
    spec(Action::Slower, "slower", "Poll half as often (up to 10 min)", None, Scope::Global, &["+"]),
    spec(Action::ToggleAllFiles, "toggle-all-files", "Show changed files only, or all files with coverage", Some("all/changed"), Scope::Tree, &["c"]),
    spec(Action::MissesOnly, "misses-only", "Show only the files whose changed lines did not all run, or all changed files", Some("misses"), Scope::Tree, &["F"]),
    spec(Action::CycleLanguage, "cycle-language", "Show only the files of one language (by extension), each listed language in turn, then all again; the header's totals stay every file's, the tree's folders count the files listed", Some("language"), Scope::Tree, &["t"]),
    spec(Action::CycleTarget, "cycle-target", "Show only the files one target's data holds, each reporting target in turn, then all again; the header's totals stay every file's, the tree's folders count the files listed", Some("target"), Scope::Tree, &["T"]),
    spec(Action::CycleSort, "cycle-sort", "Sort by path, least covered (folders and files together), most missed lines (the count shown)", Some("sort"), Scope::Tree, &["s"]),
    spec(Action::ReverseSort, "reverse-sort", "Turn the sort order around", None, Scope::Tree, &["S"]),
    spec(Action::Export, "export", "Export a report", Some("export"), Scope::Global, &["e"]),
    spec(Action::NextMissed, "next-missed", "Next missed changed line", Some("next miss"), Scope::Source, &["n"]),
    spec(Action::PrevMissed, "prev-missed", "Previous missed changed line", None, Scope::Source, &["N"]),
    spec(Action::GotoLine, "goto-line", "Go to a line of the source by its number", None, Scope::Global, &[":"]),
    spec(Action::CopyLocation, "copy-location", "Copy path:line of the cursor to the clipboard (OSC 52)", Some("copy"), Scope::Source, &["y"]),
    spec(Action::NextFileWithMisses, "next-file-with-misses", "Next file with missed changed lines", Some("next file"), Scope::Global, &["]"]),
    spec(Action::PrevFileWithMisses, "prev-file-with-misses", "Previous file with missed changed lines", None, Scope::Global, &["["]),
    spec(Action::FocusTree, "focus-tree", "Focus the file tree", None, Scope::Global, &["1"]),
    spec(Action::FocusSource, "focus-source", "Focus the source", None, Scope::Global, &["2"]),
    spec(Action::Diagnostics, "diagnostics", "Show what did not map (diagnostics)", Some("diagnostics"), Scope::Global, &["D"]),
    spec(Action::Notices, "notices", "Show the messages from the engine", None, Scope::Global, &["L"]),
    spec(Action::Freeze, "freeze", "Freeze the screen (data keeps coming)", None, Scope::Global, &["f"]),
];

#[allow(clippy::too_many_arguments)]
const fn spec(
    action: Action,
    name: &'static str,
    description: &'static str,
    hint: Option<&'static str>,
    scope: Scope,
    default_keys: &'static [&'static str],
) -> ActionSpec {
    ActionSpec {
        action,
        name,
        description,
        hint,
        scope,
        default_keys,
    }
}

impl Action {
    pub fn spec(self) -> &'static ActionSpec {
        // The table lists every action exactly once (checked by a test).
        ACTIONS
            .iter()
            .find(|s| s.action == self)
            .unwrap_or(&ACTIONS[0])
    }
}

/// A key with its modifiers, normalised so that `J` and `shift-j` are the same chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeyChord {
    pub fn from_event(ev: &KeyEvent) -> Self {
        Self::normalised(ev.code, ev.modifiers)
    }

    fn normalised(code: KeyCode, modifiers: KeyModifiers) -> Self {
        let mut modifiers =
            modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            // The character already says whether shift was held (`J`, `?`, `+`).
            KeyCode::Char(c) => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::BackTab => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        KeyChord { code, modifiers }
    }

    /// Parses `ctrl-r`, `J`, `pgdown`, `alt-enter`, `f5`, `?`, `-`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty key".into());
        }
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        // A lone "-" is the minus key, and "ctrl--" is ctrl with minus.
        loop {
            let lower = rest.to_ascii_lowercase();
            let (prefix, m) = if lower.starts_with("ctrl-") && rest.len() > 5 {
                ("ctrl-", KeyModifiers::CONTROL)
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                ("alt-", KeyModifiers::ALT)
            } else if lower.starts_with("shift-") && rest.len() > 6 {
                ("shift-", KeyModifiers::SHIFT)
            } else {
                break;
            };
            modifiers |= m;
            rest = &rest[prefix.len()..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => {
                if modifiers.contains(KeyModifiers::SHIFT) && c.is_ascii_alphabetic() {
                    KeyCode::Char(c.to_ascii_uppercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdown" | "pgdn" | "pagedown" => KeyCode::PageDown,
                "minus" => KeyCode::Char('-'),
                "plus" => KeyCode::Char('+'),
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n) if (1..=12).contains(&n) => KeyCode::F(n),
                    _ => return Err(format!("unknown key name {rest:?}")),
                },
                _ => {
                    return Err(format!(
                        "unknown key name {rest:?} (use a single character, or one of enter, esc, tab, backtab, \
                         space, backspace, delete, up, down, left, right, home, end, pgup, pgdown, f1..f12, \
                         with optional ctrl-/alt-/shift- prefixes)"
                    ));
                }
            },
        };
        Ok(Self::normalised(code, modifiers))
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdown"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A key map override that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMapError {
    #[error("[keys] {action:?}: no such action; known actions: {known}")]
    UnknownAction { action: String, known: String },
    #[error("[keys] {action}: cannot read key {key:?}: {reason}")]
    BadKey {
        action: String,
        key: String,
        reason: String,
    },
    #[error(
        "[keys] {action}: the list of keys is empty; give at least one key or remove the entry"
    )]
    NoKeys { action: String },
    #[error("[keys] key {key:?} is bound to both {first} and {second}; rebind one of them")]
    Conflict {
        key: String,
        first: String,
        second: String,
    },
}

impl KeyMapError {
    /// The `[keys]` entries the error is about, the one to fix first.
    fn actions(&self) -> [&str; 2] {
        match self {
            KeyMapError::UnknownAction { action, .. }
            | KeyMapError::BadKey { action, .. }
            | KeyMapError::NoKeys { action } => [action, action],
            KeyMapError::Conflict { first, second, .. } => [second, first],
        }
    }
}

/// The keys of every action.
#[derive(Debug, Clone)]
pub struct KeyMap {
    bindings: BTreeMap<Action, Vec<KeyChord>>,
    by_key: HashMap<KeyChord, Action>,
}

impl KeyMap {
    pub fn defaults() -> Self {
        // The default table is constant and valid (checked by a test), so no override can fail.
        Self::with_overrides(&BTreeMap::new()).unwrap_or_else(|_| KeyMap {
            bindings: BTreeMap::new(),
            by_key: HashMap::new(),
        })
    }

    /// Replaces the keys of the named actions (names as in [`ActionSpec::name`]).
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Self, KeyMapError> {
        let mut bindings = BTreeMap::new();
        for spec in ACTIONS {
            let keys = spec
                .default_keys
                .iter()
                .filter_map(|k| KeyChord::parse(k).ok())
                .collect::<Vec<_>>();
            bindings.insert(spec.action, keys);
        }
        for (name, keys) in overrides {
            let Some(spec) = ACTIONS.iter().find(|s| s.name == name.as_str()) else {
                return Err(KeyMapError::UnknownAction {
                    action: name.clone(),
                    known: ACTIONS
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            if keys.is_empty() {
                return Err(KeyMapError::NoKeys {
                    action: name.clone(),
                });
            }
            let mut chords = Vec::with_capacity(keys.len());
            for key in keys {
                let chord = KeyChord::parse(key).map_err(|reason| KeyMapError::BadKey {
                    action: name.clone(),
                    key: key.clone(),
                    reason,
                })?;
                chords.push(chord);
            }
            bindings.insert(spec.action, chords);
        }
        let mut by_key = HashMap::new();
        for (action, chords) in &bindings {
            for chord in chords {
                if let Some(previous) = by_key.insert(*chord, *action)
                    && previous != *action
                {
                    return Err(KeyMapError::Conflict {
                        key: chord.to_string(),
                        first: previous.spec().name.to_string(),
                        second: action.spec().name.to_string(),
                    });
                }
            }
        }
        Ok(KeyMap { bindings, by_key })
    }

    /// The key map of a configuration's `[keys]`. Every command checks it when it loads the
    /// configuration, so a broken entry is an error naming the file, the line and the key even
    /// where no screen starts.
    pub fn from_config(cfg: &crate::config::Config) -> Result<Self, crate::config::ConfigError> {
        Self::with_overrides(&cfg.keys).map_err(|e| {
            let line = e
                .actions()
                .iter()
                .find_map(|a| cfg.key_lines.get(*a))
                .or_else(|| cfg.key_lines.values().min())
                .copied()
                .unwrap_or(1);
            crate::config::ConfigError::Invalid {
                path: cfg
                    .source
                    .clone()
                    .unwrap_or_else(|| std::path::PathBuf::from("covtop.toml")),
                line,
                message: e.to_string(),
            }
        })
    }

    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.by_key.get(&KeyChord::from_event(ev)).copied()
    }

    pub fn keys(&self, action: Action) -> &[KeyChord] {
        self.bindings.get(&action).map_or(&[], Vec::as_slice)
    }

    /// The keys of an action as shown to the user: `j, ↓` (a comma, since `/` is a key).
    pub fn keys_label(&self, action: Action) -> String {
        let keys = self.keys(action);
        keys.iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Footer hint for an action: (keys, label), or `None` for help-only actions.
    pub fn hint(&self, action: Action) -> Option<(String, &'static str)> {
        let spec = action.spec();
        let label = spec.hint?;
        let first = self.keys(action).first()?;
        Some((first.to_string(), label))
    }

    /// The help table: (scope, keys, description) for every action, in table order.
    pub fn help_rows(&self) -> Vec<HelpRow> {
        ACTIONS
            .iter()
            .map(|s| HelpRow {
                action: s.action,
                scope: s.scope,
                keys: self.keys_label(s.action),
                description: s.description,
            })
            .collect()
    }
}

/// One row of the `?` overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub action: Action,
    pub scope: Scope,
    pub keys: String,
    pub description: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventKind;
    use crossterm::event::KeyEventState;

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    #[test]
    fn every_action_is_in_the_table_once_and_defaults_are_valid() {
        let mut seen = std::collections::HashSet::new();
        for s in ACTIONS {
            assert!(seen.insert(s.action), "{:?} twice", s.action);
            for k in s.default_keys {
                KeyChord::parse(k).unwrap_or_else(|e| panic!("{k}: {e}"));
            }
        }
        assert!(KeyMap::with_overrides(&BTreeMap::new()).is_ok());
    }

    /// A broken `[keys]` entry is a configuration error naming the file, the entry's line and
    /// the key; a conflict names the line of the override that makes it.
    #[test]
    fn a_broken_keys_entry_names_its_line() {
        let path = std::path::Path::new("/etc/covtop/covtop.toml");
        for (text, expected) in [
            (
                "[repo]\nbase = \"main\"\n\n[keys]\nquit = \"x\"\nhelp = [\"?\",\n  \"ctrl+\"]\n",
                ":6: [keys] help: cannot read key \"ctrl+\"",
            ),
            (
                "[keys]\nquit = \"x\"\nnosuch = \"y\"\n",
                ":3: [keys] \"nosuch\": no such action",
            ),
            (
                "[keys]\nquit = \"x\"\n\nhelp = \"j\"\n",
                ":4: [keys] key \"j\" is bound to both",
            ),
            (
                "[keys]\nhelp = []\n",
                ":2: [keys] help: the list of keys is empty",
            ),
        ] {
            let cfg = crate::config::parse(text, path).unwrap();
            let e = KeyMap::from_config(&cfg).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("/etc/covtop/covtop.toml{expected}")),
                "{e}"
            );
        }
        let cfg = crate::config::parse("[keys]\nquit = \"x\"\n", path).unwrap();
        assert!(KeyMap::from_config(&cfg).is_ok());
    }

    #[test]
    fn shifted_characters_match_their_parsed_form() {
        let map = KeyMap::defaults();
        assert_eq!(
            map.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            map.action(&ev(KeyCode::Char('+'), KeyModifiers::SHIFT)),
            Some(Action::Slower)
        );
        assert_eq!(
            map.action(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::SwitchPane)
        );
        assert_eq!(KeyChord::parse("shift-g"), KeyChord::parse("G"));
    }

    #[test]
    fn parses_named_and_modified_keys() {
        let c = KeyChord::parse("ctrl-r").unwrap();
        assert_eq!(c.code, KeyCode::Char('r'));
        assert_eq!(c.modifiers, KeyModifiers::CONTROL);
        assert_eq!(KeyChord::parse("pgdown").unwrap().code, KeyCode::PageDown);
        assert_eq!(KeyChord::parse("-").unwrap().code, KeyCode::Char('-'));
        assert_eq!(KeyChord::parse("ctrl--").unwrap().code, KeyCode::Char('-'));
        assert_eq!(KeyChord::parse("f5").unwrap().code, KeyCode::F(5));
        assert!(KeyChord::parse("pgdwn").is_err());
        assert!(KeyChord::parse("f13").is_err());
    }
}
