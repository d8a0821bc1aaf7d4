//! The rotation rules of capture as a table of scenarios, each one line of steps run by the
//! driver in `support` against a real [`logkeep_capture::Tracker`] over files in a temporary
//! directory, and checked for exactly-once, byte-exact capture with exactly the expected
//! events. The end-to-end tests of the repository run the same rules with the real binary and
//! the real logrotate; these run in milliseconds and say which rule broke.
//!
//! Steps (separated by `;`), on files: `write NAME SIZE` (unique lines; `noeol:N`, `bin:N`,
//! `long:N`, `same:N` for other payloads), `create`, `rename A B`, `copy A B [LEN]`,
//! `copy_rest A B`, `copytruncate A B`, `truncate`, `rewrite` (emptied and refilled in place
//! with as many different bytes), `delete`, `gzip` (to `NAME.gz`, original
//! removed), `gzip_partial`, `rotate NAME MODE` (one logrotate run: `create`, `copytruncate`,
//! either `+compress` or `+delaycompress`), `reuse_inode OLD NEW`, `symlink TARGET LINK`,
//! `mkdir`, `future` (a modification time an hour ahead); on the daemon: `poll`, `commit`,
//! `pump` (poll then commit), `rewind` (a segment could not be written), `stop` (clean),
//! `crash` (unsealed reads lost), `start`, `restart`, `age`, `settle`, `sleep MS`, and
//! `linger MS` or `max_open N` (restart with that option). Every scenario ends with the
//! tracker running and settled. Expected events are `kind:reason` words in any order
//! (`closed:rotated`, `tamper:truncated`, `gap`).

mod support;

use support::{Driver, check_with, verify};

/// One `#[test]` per row: `name: ["pattern", ...] "steps" => "events";`, the patterns (one
/// source each, relative to the scenario's directory) `app.log` when left out.
macro_rules! scenarios {
    ($($name:ident: $([$($pat:literal),*])? $steps:literal => $events:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check_with(&[$($($pat),*)?], $steps, $events);
            }
        )*
    };
}

scenarios! {
    // Plain appends, and payloads that are not lines.
    appends: "write app.log 100; pump; write app.log 5000; pump; write app.log 1" => "";
    no_trailing_newline: "write app.log noeol:37; pump; write app.log noeol:5; restart; write app.log 10" => "";
    nul_and_invalid_utf8: "write app.log bin:3000; pump; write app.log bin:9000" => "";
    long_line: "write app.log long:300000; poll; write app.log long:200000; pump" => "";
    tiny_file: "write app.log 1" => "";
    empty_lines: "write app.log 1; write app.log 1; pump; write app.log 1" => "";
    // create (rename) mode.
    // logrotate creates the copy, then (at low priority, on a loaded host) writes it more than
    // a second later: the copy, empty meanwhile, is never followed as a file of its own.
    copytruncate_copy_created_empty_long_before_it_is_written: ["app.log*"] "write app.log 500; pump; copy app.log app.log.1 0; pump; sleep 1100; pump; copy_rest app.log app.log.1; pump; truncate app.log; write app.log 100" => "closed:rotated";
    create_rotation: "write app.log 500; pump; rename app.log app.log.1; create app.log; write app.log 300" => "closed:rotated";
    create_rotation_unread_tail: "write app.log 500; pump; write app.log 700; rename app.log app.log.1; create app.log; write app.log 300" => "closed:rotated";
    create_rotation_writer_late: "linger 10000; write app.log 500; pump; rename app.log app.log.1; create app.log; pump; write app.log.1 200; write app.log 300" => "";
    create_rotation_writer_late_then_idle: "linger 30; write app.log 500; pump; rename app.log app.log.1; create app.log; pump; write app.log.1 200; write app.log 300; pump; sleep 40" => "closed:rotated";
    create_rotation_twice_between_polls: "write app.log 500; pump; write app.log 100; rename app.log app.log.1; create app.log; write app.log 300; rename app.log.1 app.log.2; rename app.log app.log.1; create app.log; write app.log 50" => "closed:rotated closed:rotated";
    rotate_1: "write app.log 500; pump; rename app.log app.log.1; create app.log; write app.log 200; pump; rename app.log app.log.1; create app.log; write app.log 100" => "closed:rotated closed:rotated";
    rotate_0_after_a_poll: "write app.log 500; pump; rename app.log app.log.1; poll; delete app.log.1; create app.log; write app.log 100" => "closed:rotated";
    // One logrotate run after another, in every mode, the reader sometimes behind.
    logrotate_create: "write app.log 300; pump; rotate app.log create; write app.log 200; rotate app.log create; write app.log 100; pump; write app.log 9; rotate app.log create" => "closed:rotated closed:rotated closed:rotated";
    logrotate_copytruncate: "write app.log 300; pump; rotate app.log copytruncate; write app.log 200; pump; write app.log 90; rotate app.log copytruncate; write app.log 100" => "closed:rotated closed:rotated";
    logrotate_compress: "write app.log 300; pump; rotate app.log create+compress; write app.log 200; pump; write app.log 90; rotate app.log create+compress; write app.log 100" => "closed:rotated closed:rotated";
    logrotate_delaycompress: "write app.log 300; pump; rotate app.log create+delaycompress; write app.log 200; pump; write app.log 90; rotate app.log create+delaycompress; write app.log 100; pump; rotate app.log create+delaycompress" => "closed:rotated closed:rotated closed:rotated";
    logrotate_copytruncate_compress: "write app.log 300; pump; rotate app.log copytruncate+compress; write app.log 200; pump; write app.log 90; rotate app.log copytruncate+compress; write app.log 100" => "closed:rotated closed:rotated";
    logrotate_copytruncate_delaycompress: "write app.log 300; pump; rotate app.log copytruncate+delaycompress; write app.log 200; pump; write app.log 90; rotate app.log copytruncate+delaycompress; write app.log 100" => "closed:rotated closed:rotated";
    logrotate_while_stopped_in_every_mode: "write app.log 300; pump; stop; rotate app.log create; write app.log 50; rotate app.log copytruncate; start; pump; write app.log 70; stop; rotate app.log create+compress; write app.log 80; rotate app.log create+delaycompress; start" => "closed:rotated closed:rotated closed:rotated closed:rotated";
    // copytruncate.
    copytruncate: "write app.log 500; pump; copytruncate app.log app.log.1; write app.log 200" => "closed:rotated";
    copytruncate_unread_tail: "write app.log 500; pump; write app.log 800; copytruncate app.log app.log.1; write app.log 200" => "closed:rotated";
    copytruncate_writer_between: "write app.log 500; pump; copy app.log app.log.1; write app.log 300; poll; truncate app.log; write app.log 200" => "closed:rotated";
    copytruncate_writer_between_committed: "write app.log 500; pump; copy app.log app.log.1; write app.log 300; pump; truncate app.log; write app.log 200" => "closed:rotated";
    // compress and delaycompress.
    compress: "write app.log 500; pump; rename app.log app.log.1; create app.log; gzip app.log.1; write app.log 200" => "closed:rotated";
    compress_unread_tail: "write app.log 500; pump; write app.log 900; rename app.log app.log.1; create app.log; gzip app.log.1; write app.log 200" => "closed:rotated";
    copytruncate_compress_unread_tail: "write app.log 500; pump; write app.log 900; copytruncate app.log app.log.1; gzip app.log.1; write app.log 200" => "closed:rotated";
    delaycompress: "write app.log 500; pump; rename app.log app.log.1; create app.log; write app.log 200; pump; rename app.log.1 app.log.2; gzip app.log.2; rename app.log app.log.1; create app.log; write app.log 100" => "closed:rotated closed:rotated";
    // dateext.
    dateext: "write app.log 500; pump; write app.log 50; rename app.log app.log-20261126; create app.log; write app.log 200" => "closed:rotated";
    dateext_copytruncate_compress: "write app.log 500; pump; write app.log 60; copytruncate app.log app.log-20261126; gzip app.log-20261126; write app.log 200" => "closed:rotated";
    // Tampering: truncation or deletion outside a rotation.
    truncated_in_place: "write app.log 500; pump; truncate app.log; write app.log 100" => "tamper:truncated";
    truncated_then_regrown_past: "write app.log 500; pump; truncate app.log; write app.log 900" => "tamper:rewritten";
    truncated_with_unread_bytes: "write app.log 500; pump; write app.log 300; poll; truncate app.log; write app.log 100" => "tamper:truncated";
    deleted: "write app.log 500; pump; delete app.log" => "tamper:deleted closed:deleted";
    // Emptied and refilled to exactly its former size between two polls: same inode, same
    // size, other bytes. Seen by the change of its times (after `sleep`, the times of the
    // previous poll were old enough to prove that nothing was written) or, right after a
    // write, by comparing the content again while the times are too recent to tell.
    same_size_rewrite: "write app.log 500; pump; rewrite app.log" => "tamper:rewritten";
    same_size_rewrite_of_an_idle_file: "write app.log 500; pump; sleep 2100; pump; rewrite app.log" => "tamper:rewritten";
    same_size_rewrite_with_unread_bytes: "write app.log 500; pump; write app.log 300; poll; rewrite app.log" => "tamper:rewritten";
    same_size_rewrite_twice: "write app.log 500; pump; rewrite app.log; pump; rewrite app.log; pump" => "tamper:rewritten tamper:rewritten";
    // A copytruncate whose truncated file was refilled to the same size before the next poll:
    // the old generation is finished from its copy, never tamper.
    same_size_rewrite_after_a_copy: "write app.log 500; pump; copy app.log app.log.1; rewrite app.log" => "closed:rotated";
    same_size_rewrite_after_a_copy_of_an_idle_file: "write app.log 500; pump; sleep 2100; pump; copy app.log app.log.1; rewrite app.log" => "closed:rotated";
    // While stopped: the tail digest at the committed end no longer matches, so the
    // generation is not resumed; it is reported and the new bytes are a new generation.
    same_size_rewrite_while_stopped: "write app.log 500; pump; stop; rewrite app.log; start" => "tamper:rewritten";
    same_size_rewrite_while_stopped_after_a_copy: "write app.log 500; pump; stop; copy app.log app.log.1; rewrite app.log; start" => "closed:rotated";
    // Indistinguishable from `rotate 0`: every byte was captured, and the name went on with a
    // new file (see FORMAT.md, `closed`).
    deleted_then_recreated: "write app.log 500; pump; delete app.log; write app.log 100" => "closed:replaced";
    // Rotations while stopped, restarts between rotations.
    restart_between_writes: "write app.log 500; pump; restart; write app.log 100; pump; restart" => "";
    crash_with_unsealed_bytes: "write app.log 500; pump; write app.log 300; poll; crash; start; write app.log 100" => "";
    rotated_while_stopped: "write app.log 500; pump; write app.log 100; stop; rename app.log app.log.1; create app.log; write app.log 200; start" => "closed:rotated";
    rotated_twice_while_stopped: "write app.log 500; pump; stop; rename app.log app.log.1; create app.log; write app.log 200; rename app.log.1 app.log.2; rename app.log app.log.1; create app.log; write app.log 50; start" => "closed:rotated closed:rotated";
    copytruncate_while_stopped: "write app.log 500; pump; write app.log 300; stop; copytruncate app.log app.log.1; write app.log 100; start" => "closed:rotated";
    compressed_while_stopped: "write app.log 500; pump; write app.log 300; stop; rename app.log app.log.1; create app.log; gzip app.log.1; write app.log 100; start" => "closed:rotated";
    delaycompress_while_stopped: "write app.log 500; pump; rename app.log app.log.1; create app.log; write app.log 200; pump; stop; rename app.log.1 app.log.2; gzip app.log.2; rename app.log app.log.1; create app.log; write app.log 100; start" => "closed:rotated closed:rotated";
    crash_then_rotated: "write app.log 500; pump; write app.log 300; poll; crash; rename app.log app.log.1; create app.log; write app.log 100; start" => "closed:rotated";
    // Deleted while the reader is behind: the open descriptor still reads it to its end.
    deleted_while_behind: "write app.log 500; pump; write app.log 3000; delete app.log" => "tamper:deleted closed:deleted";
    deleted_while_behind_after_a_rename: "linger 10000; write app.log 500; pump; rename app.log app.log.1; create app.log; pump; write app.log.1 3000; delete app.log.1" => "";
    // A generation created and rotated away between two polls, then compressed.
    never_seen_generation_compressed: "write app.log 500; pump; rename app.log app.log.1; create app.log; write app.log 200; rename app.log.1 app.log.2; gzip app.log.2; rename app.log app.log.1; create app.log; gzip app.log.1; write app.log 50" => "closed:rotated closed:rotated";
    // Restarts, many of them, with rotations between: nothing is read twice.
    many_restarts: "write app.log 100; restart; write app.log 100; pump; restart; restart; rename app.log app.log.1; create app.log; write app.log 10; restart; pump; restart; write app.log 5; crash; start; write app.log 1" => "closed:rotated";
    // The open-file limit: a file waits for a descriptor, then is followed from its start.
    open_file_limit: "max_open 1; write app.log 500; pump; rename app.log app.log.1; create app.log; write app.log 200; pump; write app.log 5" => "closed:rotated";
    // Several files, several sources, rotated names that match the pattern.
    // `app.log*` matches the rotated files too: each generation is still captured once, and
    // the newer rotated file, still matched, is still followed rather than closed.
    rotated_names_matching_the_glob: ["app.log*"] "write app.log 500; pump; write app.log 100; rename app.log app.log.1; create app.log; write app.log 200; pump; rename app.log.1 app.log.2; gzip app.log.2; rename app.log app.log.1; create app.log; write app.log 30; restart; write app.log 9" => "closed:rotated";
    one_file_matched_by_two_sources: ["app.log", "*.log"] "write app.log 500; pump; write app.log 100; rename app.log app.log.1; create app.log; write app.log 200; restart; write app.log 7" => "closed:rotated";
    files_with_identical_first_lines: ["*.log"] "write a.log same:200; write b.log same:200; pump; write a.log 100; write b.log 150; pump; rename a.log a.log.1; create a.log; write a.log same:200; restart; write b.log 10" => "closed:rotated";
    identical_first_lines_rotated_while_stopped: ["*.log"] "write a.log same:100; write a.log 100; write b.log same:100; write b.log 100; pump; stop; rename a.log a.log.1; create a.log; write a.log same:100; rename b.log b.log.1; create b.log; start" => "closed:rotated closed:rotated";
    // Rewind after a failed commit.
    rewind_then_crash: "write app.log 500; pump; write app.log 300; poll; rewind; crash; start; write app.log 10" => "";
    rewind_of_a_compressed_generation: "write app.log 500; pump; write app.log 300; stop; rename app.log app.log.1; create app.log; gzip app.log.1; write app.log 40; start; poll; rewind; poll; rewind; pump" => "closed:rotated";
    rewind_of_a_never_seen_generation: "write app.log 500; pump; rename app.log app.log.1; create app.log; write app.log 200; rename app.log.1 app.log.2; rename app.log app.log.1; create app.log; poll; rewind; pump" => "closed:rotated closed:rotated";
    rewind: "write app.log 500; poll; rewind; write app.log 100; pump" => "";
    rewind_after_rotation: "write app.log 500; pump; write app.log 200; rename app.log app.log.1; create app.log; write app.log 100; poll; rewind; pump" => "closed:rotated";
    rewind_after_copytruncate: "write app.log 500; pump; write app.log 200; copytruncate app.log app.log.1; write app.log 100; poll; rewind; pump" => "closed:rotated";
    // A copy seen half-written.
    copy_seen_half_written: "write app.log 5000; pump; copy app.log app.log.1 1000; poll; copy_rest app.log app.log.1; truncate app.log; write app.log 100" => "closed:rotated";
    gzip_seen_half_written: "write app.log 500; pump; write app.log 400; rename app.log app.log.1; create app.log; gzip_partial app.log.1; poll; delete app.log.1.gz; gzip app.log.1" => "closed:rotated";
    // Inode reuse.
    inode_reused_after_rotate_0: "write app.log 500; pump; rename app.log app.log.1; pump; reuse_inode app.log.1 app.log; write app.log 100" => "closed:rotated";
    inode_reused_by_a_rotated_name: "write app.log 500; pump; copytruncate app.log app.log.1; write app.log 300; pump; reuse_inode app.log.1 app.log.1; copy app.log app.log.1; truncate app.log; write app.log 20" => "closed:rotated closed:rotated";
    inode_reused_by_a_rotated_name_while_stopped: "write app.log 500; pump; copytruncate app.log app.log.1; write app.log 300; pump; stop; reuse_inode app.log.1 app.log.1; copy app.log app.log.1; truncate app.log; write app.log 20; start" => "closed:rotated closed:rotated";
    // The generation is gone when the run starts: whether it had grown past what the chain
    // holds cannot be known, so a gap says so even when nothing was lost.
    rotate_0_while_stopped: "write app.log 500; pump; stop; rename app.log app.log.1; create app.log; delete app.log.1; write app.log 100; start" => "gap";
    rotate_0_while_stopped_unread_tail: "write app.log 500; pump; write app.log 80; stop; rename app.log app.log.1; create app.log; delete app.log.1; write app.log 100; start" => "gap";
    // `rotate 0` between two polls: the followed file is unlinked while a new file takes its
    // name. Its descriptor gave every byte it held: a rotation, not tampering.
    rotate_0_between_polls: "write app.log 500; pump; rename app.log app.log.1; delete app.log.1; create app.log; write app.log 100" => "closed:replaced";
    rotate_0_between_polls_unread_tail: "write app.log 500; pump; write app.log 300; rename app.log app.log.1; delete app.log.1; create app.log; write app.log 100" => "closed:replaced";
    rotate_0_seen_renamed: "write app.log 500; pump; rename app.log app.log.1; pump; delete app.log.1; create app.log; write app.log 100" => "closed:rotated";
    // A poll between the rotation's steps (renamed and removed, not created yet) decides
    // nothing until a file takes the name or `linger` has passed.
    rotate_0_poll_before_create: "linger 2000; write app.log 500; pump; rename app.log app.log.1; delete app.log.1; pump; create app.log; write app.log 100; pump; sleep 2100" => "closed:replaced";
    rotate_0_olddir: "mkdir old; write app.log 500; pump; write app.log 40; rename app.log old/app.log.1; delete old/app.log.1; create app.log; write app.log 100" => "closed:replaced";
    rotate_0_copytruncate_seen: "write app.log 500; pump; copytruncate app.log app.log.1; pump; delete app.log.1; write app.log 100" => "closed:rotated";
    rotate_0_dateext: "write app.log 500; pump; rename app.log app.log-20261126; delete app.log-20261126; create app.log; write app.log 100" => "closed:replaced";
    // `rotate 1` run twice between two polls: the followed generation's rotated file is
    // removed before a scan saw the rename; the one after it is captured from its rotated name.
    rotate_1_twice_between_polls: "write app.log 500; pump; write app.log 50; rename app.log app.log.1; create app.log; write app.log 200; delete app.log.1; rename app.log app.log.1; create app.log; write app.log 100" => "closed:replaced closed:rotated";
    rotate_1_twice_seen_once: "write app.log 500; pump; rename app.log app.log.1; create app.log; write app.log 200; pump; delete app.log.1; rename app.log app.log.1; create app.log; write app.log 100" => "closed:rotated closed:rotated";
    rotate_1_dateext_twice_between_polls: "write app.log 500; pump; rename app.log app.log-20261125; create app.log; write app.log 200; delete app.log-20261125; rename app.log app.log-20261126; create app.log; write app.log 100" => "closed:replaced closed:rotated";
    // olddir: the second run removes the first one's file from `old/` before a scan saw it
    // there. (A generation made and moved to `old/` between two scans is never seen under a
    // watched name; siblings are looked for in the watched directory only.)
    rotate_1_olddir_twice: "mkdir old; write app.log 500; pump; write app.log 30; rename app.log old/app.log.1; create app.log; write app.log 200; pump; delete old/app.log.1; rename app.log old/app.log.1; create app.log; write app.log 100" => "closed:rotated closed:rotated";
    rotate_1_olddir_removed_unseen: "mkdir old; write app.log 500; pump; write app.log 30; rename app.log old/app.log.1; create app.log; write app.log 200; delete old/app.log.1; pump; rename app.log old/app.log.1; create app.log; write app.log 100" => "closed:replaced closed:rotated";
    rotate_1_compress_twice_between_polls: "write app.log 500; pump; rename app.log app.log.1; create app.log; gzip app.log.1; write app.log 200; delete app.log.1.gz; rename app.log app.log.1; create app.log; gzip app.log.1; write app.log 100" => "closed:replaced closed:rotated";
    // `copytruncate` with `rotate 0`, the copy removed before a scan saw it: the same as a
    // truncation by hand, and the bytes written after the last read are gone with the copy.
    rotate_0_copytruncate_unseen: "write app.log 500; pump; copytruncate app.log app.log.1; delete app.log.1; write app.log 100" => "tamper:truncated";
    // The same modes with a scan between the rename and what follows it.
    compress_seen_renamed: "write app.log 500; pump; write app.log 70; rename app.log app.log.1; create app.log; pump; gzip app.log.1; write app.log 200" => "closed:rotated";
    dateext_seen_renamed: "write app.log 500; pump; rename app.log app.log-20261126; pump; create app.log; write app.log 200" => "closed:rotated";
    olddir_seen_renamed: "mkdir old; write app.log 500; pump; rename app.log old/app.log.1; pump; create app.log; write app.log 50" => "closed:rotated";
    rotate_1_dateext_seen: "write app.log 500; pump; rename app.log app.log-20261125; create app.log; write app.log 200; pump; delete app.log-20261125; rename app.log app.log-20261126; create app.log; write app.log 100" => "closed:rotated closed:rotated";
    // maxage: a rotated file removed for its age, seen renamed or not.
    maxage_removes_the_rotated_file: "write app.log 500; pump; rename app.log app.log.1; create app.log; pump; delete app.log.1; write app.log 100" => "closed:rotated";
    maxage_removes_it_before_a_scan: "write app.log 500; pump; rename app.log app.log.1; create app.log; delete app.log.1; write app.log 100" => "closed:replaced";
    // Deletion outside rotation: no file takes the name within `linger`.
    deleted_just_before_a_stop: "linger 60000; write app.log 500; pump; delete app.log; pump; stop; start" => "tamper:deleted gap";
    deleted_and_nothing_takes_the_name: "linger 300; write app.log 500; pump; delete app.log; pump; sleep 400; pump" => "tamper:deleted closed:deleted";
    // olddir: the rotated file leaves the directory; its descriptor is read to the end.
    olddir_create: "mkdir old; write app.log 500; pump; write app.log 100; rename app.log old/app.log.1; create app.log; write app.log 50" => "closed:rotated";
    // A symbolic link at the watched name, retargeted.
    symlink_retargeted: "write a1 300; symlink a1 app.log; pump; write app.log 100; pump; write a2 50; delete app.log; symlink a2 app.log; write app.log 70" => "closed:rotated";
    // A clock that jumped: modification times in the future.
    mtime_in_the_future: "write app.log 500; future app.log; pump; rename app.log app.log.1; future app.log.1; create app.log; write app.log 100; future app.log; restart; write app.log 10" => "closed:rotated";
    // A generation compressed away before any of its bytes were committed: read once, through
    // its descriptor, and not again from the `.gz`.
    a_compressed_before_its_first_commit: "create app.log; pump; write app.log 3398; rename app.log app.log.1; gzip app.log.1" => "closed:rotated";
    a2_compressed_after_a_rewind: "write app.log 3398; poll; rewind; rename app.log app.log.1; create app.log; gzip app.log.1" => "closed:rotated";
    // A rewind after a copytruncate that followed uncommitted reads: the old generation is
    // finished from the copy once, and the truncated file is a new generation.
    b_rewind_after_a_copytruncate_that_followed_reads: "write app.log 500; pump; write app.log 300; poll; copytruncate app.log app.log.1; rewind" => "closed:rotated";
    // A new file whose beginning equals the whole previous generation (a file rotated holding
    // only its header) is a generation of its own, not a copy.
    c_new_file_beginning_with_the_whole_previous_generation: "write app.log same:37; pump; rename app.log app.log.1; create app.log; write app.log same:37; write app.log 500; pump" => "closed:rotated";
    c2: "stop; start; write app.log bin:2; rotate app.log copytruncate+compress; write app.log 967; rotate app.log copytruncate" => "closed:rotated closed:rotated";
    // A write to a rotated file after it was closed (idle past linger). The chain takes no
    // bytes of a generation after its `closed` record, and capturing the file again as a new
    // generation would hold its first 500 bytes twice: a `gap` on the closed generation names
    // the late bytes (from its end, with the size seen), so the investigator knows exactly
    // which bytes to take from the host, and nothing is lost silently or held twice.
    d_write_to_a_rotated_file_after_it_was_closed: "linger 30; write app.log 500; pump; rename app.log app.log.1; create app.log; pump; sleep 40; pump; write app.log.1 200; write app.log 300" => "closed:rotated gap";
}

#[test]
fn invalid_utf8_file_names() {
    let steps = "write app-\\xff.log 300; pump; write app-\\xff.log 200; rename app-\\xff.log app-\\xff.log.1; create app-\\xff.log; write app-\\xff.log 40; restart; write app-\\xff.log 5";
    check_with(&["*.log"], steps, "closed:rotated");
    // The name really is not UTF-8, and is recorded with the byte escaped.
    let d = Driver::run(&["*.log"], steps);
    assert!(
        d.sink.chunks().all(|c| c.path.contains("/app-\\xff.log")),
        "recorded names: {:?}",
        d.sink.chunks().map(|c| &c.path).collect::<Vec<_>>()
    );
}

// The checker itself: each of these must fail, or the table proves nothing.

fn clean() -> Driver {
    Driver::run(
        &["app.log"],
        "write app.log 10000; pump; rename app.log app.log.1; create app.log; write app.log 300",
    )
}

#[test]
fn checker_passes_a_clean_run() {
    let d = clean();
    verify(&d.sink.chain, &d.written(), "closed:rotated").expect("clean run");
}

#[test]
fn checker_sees_a_flipped_byte() {
    let mut d = clean();
    let c = support_chunk(&mut d, 0);
    c.data[10] ^= 1;
    let e = verify(&d.sink.chain, &d.written(), "closed:rotated").expect_err("flipped byte");
    assert!(e.contains("no stream written"), "{e}");
}

#[test]
fn checker_sees_a_duplicated_chunk() {
    let mut d = clean();
    let c = support_chunk(&mut d, 0).clone();
    d.sink.chain.push(support::Entry::Segment(vec![c]));
    let e = verify(&d.sink.chain, &d.written(), "closed:rotated").expect_err("duplicate");
    assert!(e.contains("captured twice"), "{e}");
}

#[test]
fn checker_sees_a_lost_chunk() {
    let mut d = clean();
    for e in d.sink.chain.iter_mut() {
        if let support::Entry::Segment(chunks) = e
            && chunks.len() > 1
        {
            chunks.remove(1);
            break;
        }
    }
    let e = verify(&d.sink.chain, &d.written(), "closed:rotated").expect_err("loss");
    assert!(e.contains("never captured"), "{e}");
}

#[test]
fn checker_sees_wrong_digests() {
    let mut d = clean();
    let c = support_chunk(&mut d, 1);
    c.tail = logkeep_format::Sha256::of(b"not the tail");
    let e = verify(&d.sink.chain, &d.written(), "closed:rotated").expect_err("digest");
    assert!(e.contains("wrong digests"), "{e}");
}

#[test]
fn checker_sees_a_stream_never_captured() {
    let d = clean();
    let mut written = d.written();
    written.push(b"bytes no generation holds\n".to_vec());
    let e = verify(&d.sink.chain, &written, "closed:rotated").expect_err("missing stream");
    assert!(e.contains("not captured as one generation"), "{e}");
}

#[test]
fn checker_sees_unexpected_and_missing_events() {
    let d = clean();
    let e = verify(&d.sink.chain, &d.written(), "").expect_err("unexpected event");
    assert!(e.contains("events"), "{e}");
    let e = verify(
        &d.sink.chain,
        &d.written(),
        "closed:rotated tamper:truncated",
    )
    .expect_err("missing event");
    assert!(e.contains("events"), "{e}");
}

#[test]
fn checker_sees_tamper_where_none_is_expected() {
    let d = Driver::run(&["app.log"], "write app.log 500; pump; truncate app.log");
    let e = verify(&d.sink.chain, &d.written(), "").expect_err("tamper");
    assert!(e.contains("tamper:truncated"), "{e}");
}

/// The `n`th committed chunk, to spoil.
fn support_chunk(d: &mut Driver, n: usize) -> &mut support::Chunk {
    d.sink
        .chain
        .iter_mut()
        .flat_map(|e| match e {
            support::Entry::Segment(c) => c.iter_mut().collect::<Vec<_>>(),
            support::Entry::Event(..) => Vec::new(),
        })
        .nth(n)
        .expect("enough chunks")
}

/// A small deterministic generator (xorshift), so that a failing sequence can be run again
/// from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Random sequences of writes, rotations in every mode, polls, commits, rewinds, restarts and
/// crashes, checked for exactly-once capture. Only rotations happen to the files, so no
/// sequence may raise `tamper`; a `gap` may only end a generation whose bytes are all there.
#[test]
fn random_operations() {
    const MODES: [&str; 5] = [
        "create",
        "copytruncate",
        "create+compress",
        "create+delaycompress",
        "copytruncate+compress",
    ];
    const PAYLOADS: [&str; 4] = ["", "noeol:", "bin:", "long:"];
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut steps = Vec::new();
        // Whether the next write begins a stream (the file is new or was just rotated). Only
        // that write is at least 20 bytes long, so that it begins with its own tag: two
        // streams of the very same bytes (a one-byte file rotated, another one-byte file
        // written after it) cannot be told apart by their content, by capture or by anyone.
        // Every later write may be a single byte. Generations whose whole content begins
        // another are the table's `c_` rows.
        let mut first = true;
        for _ in 0..40 {
            let step = match rng.below(13) {
                0..=3 => {
                    let kind = PAYLOADS[rng.below(4) as usize];
                    let least = if std::mem::take(&mut first) { 20 } else { 1 };
                    format!("write app.log {kind}{}", least + rng.below(6000))
                }
                4 => {
                    // In any order with polls, commits and rewinds: a generation may be
                    // compressed away before any of its bytes were committed, or truncated by
                    // a `copytruncate` after reads that a rewind then drops.
                    let mode = MODES[rng.below(5) as usize];
                    first = true;
                    format!("rotate app.log {mode}")
                }
                5 => "poll".into(),
                6 | 7 => "pump".into(),
                8 => "commit".into(),
                9 => "rewind".into(),
                10 => "restart".into(),
                11 => "crash; start".into(),
                // Rotations while stopped, after a clean stop or a crash.
                _ => {
                    let stop = ["stop", "crash"][rng.below(2) as usize];
                    let mode = MODES[rng.below(5) as usize];
                    let least = if std::mem::take(&mut first) { 20 } else { 1 };
                    first = true;
                    format!(
                        "{stop}; write app.log {}; rotate app.log {mode}; start",
                        least + rng.below(3000)
                    )
                }
            };
            steps.push(step);
        }
        let steps = steps.join("; ");
        let d = Driver::run(&["app.log"], &steps);
        if let Err(e) = support::check_chain(&d.sink.chain, &d.written(), None) {
            panic!("seed {seed}: {e}\n  steps: {steps}");
        }
        let tampers: Vec<String> = d
            .sink
            .events()
            .map(support::event_name)
            .filter(|e| e.starts_with("tamper"))
            .collect();
        assert!(
            tampers.is_empty(),
            "seed {seed}: {tampers:?}\n  steps: {steps}"
        );
    }
}
