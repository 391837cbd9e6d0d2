//! `roe completions bash|zsh|fish`: a completion script made from the
//! table, so that it offers exactly the commands and options the help
//! lists and the parsers take.
//!
//! Each script finds the command on the line the same way: from `roe`, a
//! word that names a subcommand of the command so far goes down to it, and
//! the first word that does not ends the walk (commands come before their
//! options and words). After `roe help` the walk goes on from `roe` again,
//! to offer the commands `roe help` can name.

use std::fmt::Write;

use super::{Command, Complete, walk};

/// The shells there are scripts for.
pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

/// The script for `shell`, or `None` for a shell there is none for.
pub fn script(shell: &str) -> Option<String> {
    match shell {
        "bash" => Some(bash()),
        "zsh" => Some(zsh()),
        "fish" => Some(fish()),
        _ => None,
    }
}

/// `roe` and `path`, as the scripts name a command.
fn spelled(path: &[&str]) -> String {
    std::iter::once("roe")
        .chain(path.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command whose words name commands (`roe help`), as the scripts
/// name it.
fn naming_command() -> String {
    walk()
        .into_iter()
        .find(|(_, c)| matches!(c.words, Complete::Commands))
        .map(|(path, _)| spelled(&path))
        .unwrap_or_default()
}

/// Every option of `command`, `--help` and `-h` included, as typed.
fn option_words(command: &Command) -> Vec<String> {
    let mut words: Vec<String> = command
        .options
        .iter()
        .map(|o| format!("--{}", o.long))
        .collect();
    words.extend(["--help".into(), "-h".into()]);
    words
}

/// `text` in single quotes for a POSIX shell or zsh.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The bash script: a `_roe` function registered with `complete -F`.
fn bash() -> String {
    let mut out = String::from(
        "# bash completion for roe, made by `roe completions bash`\n\
         # Load it with: source <(roe completions bash)\n\n",
    );
    out.push_str("_roe_subcommands() {\n    case $1 in\n");
    for (path, command) in walk() {
        if !command.subcommands.is_empty() {
            let names: Vec<&str> = command.subcommands.iter().map(|c| c.name).collect();
            let _ = writeln!(
                out,
                "        {}) echo {} ;;",
                quoted(&spelled(&path)),
                quoted(&names.join(" "))
            );
        }
    }
    out.push_str("    esac\n}\n\n");
    out.push_str(
        "_roe_words() { mapfile -t COMPREPLY < <(compgen -W \"$1\" -- \"$cur\"); }\n\
         _roe_files() { compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- \"$cur\"); }\n\
         _roe_dirs() { compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- \"$cur\"); }\n\n",
    );
    let _ = write!(
        out,
        r#"_roe() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local cmd=roe named= i w
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${{COMP_WORDS[i]}}
        if [[ -n $named ]]; then
            [[ " $(_roe_subcommands "$named") " == *" $w "* ]] || break
            named="$named $w"
        else
            [[ " $(_roe_subcommands "$cmd") " == *" $w "* ]] || break
            cmd="$cmd $w"
            [[ $cmd == {naming} ]] && named=roe
        fi
    done
    if [[ -n $named ]]; then
        _roe_words "$(_roe_subcommands "$named")"
        return
    fi
    case $cmd in
"#,
        naming = quoted(&naming_command()),
    );
    for (path, command) in walk() {
        let _ = writeln!(out, "        {})", quoted(&spelled(&path)));
        bash_values(&mut out, command);
        let options = quoted(&option_words(command).join(" "));
        let words = if command.subcommands.is_empty() {
            bash_complete(command.words)
        } else {
            "_roe_words \"$(_roe_subcommands \"$cmd\")\"".to_owned()
        };
        if words.is_empty() {
            // No words to offer: the options, dash typed or not.
            let _ = writeln!(out, "            _roe_words {options}");
        } else {
            let _ = writeln!(
                out,
                "            if [[ $cur == -* ]]; then _roe_words {options}; return; fi"
            );
            let _ = writeln!(out, "            {words}");
        }
        out.push_str("            ;;\n");
    }
    out.push_str("    esac\n}\n\ncomplete -F _roe roe\n");
    out
}

/// The lines that complete the value after one of `command`'s options:
/// one `case` branch per kind of value, free text offering nothing.
fn bash_values(out: &mut String, command: &Command) {
    let mut branches: Vec<(String, Vec<String>)> = Vec::new();
    for option in command.options.iter().filter(|o| o.value.is_some()) {
        let action = bash_complete(option.complete);
        let flag = format!("--{}", option.long);
        match branches.iter_mut().find(|(a, _)| *a == action) {
            Some((_, flags)) => flags.push(flag),
            None => branches.push((action, vec![flag])),
        }
    }
    if branches.is_empty() {
        return;
    }
    out.push_str("            case $prev in\n");
    for (action, flags) in branches {
        let action = if action.is_empty() {
            action
        } else {
            action + "; "
        };
        let _ = writeln!(
            out,
            "                {}) {action}return ;;",
            flags.join("|")
        );
    }
    out.push_str("            esac\n");
}

/// The bash call that offers what `complete` says (empty for nothing).
fn bash_complete(complete: Complete) -> String {
    match complete {
        Complete::Nothing | Complete::Commands => String::new(),
        Complete::File => "_roe_files".into(),
        Complete::Dir => "_roe_dirs".into(),
        Complete::Words(words) => format!("_roe_words {}", quoted(&words.join(" "))),
    }
}

/// `text` for the inside of an `_arguments` description (`[...]`) or a
/// `_describe` entry: brackets and colons escaped.
fn zsh_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if matches!(c, '[' | ']' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The zsh script: `_roe`, for a file `_roe` in `$fpath` or `source`.
fn zsh() -> String {
    let mut out = String::from(
        "#compdef roe\n\
         # zsh completion for roe, made by `roe completions zsh`\n\
         # Save it as _roe in a directory of $fpath, or: source <(roe completions zsh)\n\n",
    );
    out.push_str("# Sets subs to the subcommands of the command $1, as name:summary.\n");
    out.push_str("_roe_subcommands() {\n    case $1 in\n");
    for (path, command) in walk() {
        if !command.subcommands.is_empty() {
            let entries: Vec<String> = command
                .subcommands
                .iter()
                .map(|c| quoted(&format!("{}:{}", c.name, zsh_text(c.summary))))
                .collect();
            let _ = writeln!(
                out,
                "        ({}) subs=({}) ;;",
                quoted(&spelled(&path)),
                entries.join(" ")
            );
        }
    }
    out.push_str("        (*) subs=() ;;\n    esac\n}\n\n");
    out.push_str(
        "# Whether $2 names a subcommand of the command $1.\n\
         _roe_is_subcommand() {\n\
         \x20   local -a subs\n\
         \x20   local entry\n\
         \x20   _roe_subcommands \"$1\"\n\
         \x20   for entry in \"${subs[@]}\"; do\n\
         \x20       [[ \"${entry%%:*}\" == \"$2\" ]] && return 0\n\
         \x20   done\n\
         \x20   return 1\n\
         }\n\n",
    );
    let _ = write!(
        out,
        r#"_roe() {{
    local cmd=roe named= w
    local -a subs
    integer i=2
    while (( i < CURRENT )); do
        w=${{words[i]}}
        if [[ -n $named ]]; then
            _roe_is_subcommand "$named" "$w" || break
            named="$named $w"
        else
            _roe_is_subcommand "$cmd" "$w" || break
            cmd="$cmd $w"
            [[ $cmd == {naming} ]] && named=roe
        fi
        (( i++ ))
    done
    if [[ -n $named ]]; then
        _roe_subcommands "$named"
        _describe command subs
        return
    fi
    # _arguments reads the words from the command's own name on.
    words=("${{(@)words[i-1,-1]}}")
    (( CURRENT -= i - 2 ))
    _roe_subcommands "$cmd"
    case $cmd in
"#,
        naming = quoted(&naming_command()),
    );
    for (path, command) in walk() {
        let _ = writeln!(out, "        ({})", quoted(&spelled(&path)));
        out.push_str("            _arguments \\\n");
        out.push_str("                '(- *)'{-h,--help}'[print this help]' \\\n");
        for option in command.options {
            let mut spec = format!("--{}[{}]", option.long, zsh_text(option.help));
            if let Some(value) = option.value {
                let message = zsh_text(value.trim_start_matches('<').trim_end_matches('>'));
                let _ = write!(spec, ":{message}:{}", zsh_action(option.complete));
            }
            let _ = writeln!(out, "                {} \\", quoted(&spec));
        }
        let words = if command.subcommands.is_empty() {
            match command.words {
                Complete::Nothing => String::new(),
                complete => format!("*:word:{}", zsh_action(complete)),
            }
        } else {
            "1:command:{_describe command subs}".into()
        };
        if !words.is_empty() {
            let _ = writeln!(out, "                {} \\", quoted(&words));
        }
        // The line continued above ends here.
        out.push_str("                && return\n            ;;\n");
    }
    out.push_str(
        "    esac\n}\n\n\
         if [[ $funcstack[1] == _roe ]]; then\n\
         \x20   _roe \"$@\"\n\
         else\n\
         \x20   compdef _roe roe\n\
         fi\n",
    );
    out
}

/// The `_arguments` action that offers what `complete` says.
fn zsh_action(complete: Complete) -> String {
    match complete {
        Complete::Nothing | Complete::Commands => " ".into(),
        Complete::File => "_files".into(),
        Complete::Dir => "_files -/".into(),
        Complete::Words(words) => format!("({})", words.join(" ")),
    }
}

/// `text` in single quotes for fish.
fn fish_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

/// The fish script: `complete` lines, each under a condition on the
/// command the line has reached.
fn fish() -> String {
    let mut out = String::from(
        "# fish completion for roe, made by `roe completions fish`\n\
         # Save it as ~/.config/fish/completions/roe.fish\n\n",
    );
    out.push_str(
        "function __roe_subcommands --description 'the subcommands of the command $argv'\n",
    );
    out.push_str("    switch \"$argv\"\n");
    for (path, command) in walk() {
        if !command.subcommands.is_empty() {
            let names: Vec<&str> = command.subcommands.iter().map(|c| c.name).collect();
            let _ = writeln!(
                out,
                "        case {}\n            printf '%s\\n' {}",
                fish_quoted(&spelled(&path)),
                names.join(" ")
            );
        }
    }
    out.push_str("    end\nend\n\n");
    let _ = write!(
        out,
        r#"function __roe_walk --description 'the command on the line (command), or the one roe help names (named)'
    set -l cmd roe
    set -l named
    set -l tokens (commandline -opc)
    set -e tokens[1]
    for w in $tokens
        if test -n "$named"
            contains -- $w (__roe_subcommands $named); or break
            set named "$named $w"
        else
            contains -- $w (__roe_subcommands $cmd); or break
            set cmd "$cmd $w"
            test "$cmd" = {naming}; and set named roe
        end
    end
    if test "$argv[1]" = named
        echo $named
    else
        echo $cmd
    end
end

function __roe_at --description 'whether the line is at the command $argv'
    set -l named (__roe_walk named)
    test -z "$named"; and test (__roe_walk command) = "$argv"
end

function __roe_naming --description 'whether roe help has named the command $argv'
    test (__roe_walk named) = "$argv"
end

complete -c roe -f
"#,
        naming = fish_quoted(&naming_command()),
    );
    for (path, command) in walk() {
        let at = format!("__roe_at {}", spelled(&path));
        let naming = format!("__roe_naming {}", spelled(&path));
        let _ = writeln!(out, "\n# {}", spelled(&path));
        for sub in command.subcommands {
            for condition in [&at, &naming] {
                let _ = writeln!(
                    out,
                    "complete -c roe -n {} -a {} -d {}",
                    fish_quoted(condition),
                    sub.name,
                    fish_quoted(sub.summary)
                );
            }
        }
        let _ = writeln!(
            out,
            "complete -c roe -n {} -s h -l help -d 'print this help'",
            fish_quoted(&at)
        );
        for option in command.options {
            let takes = match (option.value, option.complete) {
                (None, _) => String::new(),
                (Some(_), Complete::File) => " -r -F".into(),
                (Some(_), Complete::Dir) => {
                    " -x -a '(__fish_complete_directories (commandline -ct))'".into()
                }
                (Some(_), Complete::Words(words)) => {
                    format!(" -x -a {}", fish_quoted(&words.join(" ")))
                }
                (Some(_), Complete::Nothing | Complete::Commands) => " -x".into(),
            };
            let _ = writeln!(
                out,
                "complete -c roe -n {} -l {}{takes} -d {}",
                fish_quoted(&at),
                option.long,
                fish_quoted(option.help)
            );
        }
        if command.subcommands.is_empty() {
            let words = match command.words {
                Complete::Nothing | Complete::Commands => String::new(),
                Complete::File => "-F".into(),
                Complete::Dir => "-a '(__fish_complete_directories (commandline -ct))'".into(),
                Complete::Words(words) => format!("-a {}", fish_quoted(&words.join(" "))),
            };
            if !words.is_empty() {
                let _ = writeln!(out, "complete -c roe -n {} {words}", fish_quoted(&at));
            }
        }
    }
    out
}
