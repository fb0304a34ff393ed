# bash completion for xchg, xchg-matcherd and xchg-synth (installed as
# share/bash-completion/completions/xchg, with links for the other two).
#
# Nothing here lists commands or options by hand: commands and sub-commands come from
# 'xchg --commands' (the dispatcher's table), options from 'xchg COMMAND [SUB]
# --list-options' (each verb's own option table; the usage text for the daemons). A new
# verb is completed once it is registered.

_xchg_options() { # program and words -> the options that command takes
  # (--list-options: every verb's own option table; else what its usage names)
  local o
  o=$("$@" --list-options 2>/dev/null) && [[ -n $o ]] ||
    o=$("$@" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*')
  sort -u <<<"$o"
}

_xchg() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prog=${COMP_WORDS[0]} cmds cmd="" sub="" i w
  COMPREPLY=()
  cmds=$("$prog" --commands 2>/dev/null) || return 0
  # the command and sub-command typed so far (the first words that are not options)
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    [[ $w == -* ]] && break
    if [[ -z $cmd ]]; then
      cmd=$w
    elif [[ -z $sub ]] && grep -qx -- "$cmd $w" <<<"$cmds"; then
      sub=$w
    fi
  done
  if [[ $cmd == help ]]; then # xchg help COMMAND [SUB]
    case $COMP_CWORD in
      2) cmd="" ;; # the command list, below
      3) mapfile -t COMPREPLY < <(compgen -W "$(awk -v c="${COMP_WORDS[2]}" '$1 == c && NF == 2 {print $2}' <<<"$cmds")" -- "$cur")
         return 0 ;;
      *) return 0 ;;
    esac
  fi
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(awk '{print $1}' <<<"$cmds" | sort -u) help" -- "$cur")
    fi
    return 0
  fi
  if [[ -z $sub && $cur != -* && $COMP_CWORD -eq 2 ]] && grep -q "^$cmd " <<<"$cmds"; then
    mapfile -t COMPREPLY < <(compgen -W "$(awk -v c="$cmd" '$1 == c && NF == 2 {print $2}' <<<"$cmds")" -- "$cur")
    [[ ${#COMPREPLY[@]} -gt 0 ]] && return 0
  fi
  if [[ $cur == -* ]]; then
    # shellcheck disable=SC2086
    mapfile -t COMPREPLY < <(compgen -W "$(_xchg_options "$prog" $cmd $sub)" -- "$cur")
    return 0
  fi
  # an option's value or a positional argument: file names
  compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  return 0
}

_xchg_daemon() { # xchg-matcherd, xchg-synth: options from --help, else file names
  local cur=${COMP_WORDS[COMP_CWORD]}
  COMPREPLY=()
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_xchg_options "${COMP_WORDS[0]}")" -- "$cur")
  else
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
  return 0
}

complete -F _xchg xchg
complete -F _xchg_daemon xchg-matcherd xchg-keyd xchg-synth
