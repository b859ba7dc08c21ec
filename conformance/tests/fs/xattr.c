/* Extended attributes on tmpfs (/dev/shm is tmpfs natively and sandboxed): user.*, trusted.*
 * and security.* values, XATTR_CREATE/XATTR_REPLACE, size queries and ERANGE, E2BIG, ENODATA,
 * unknown namespaces, symlinks (l* variants), fds (f* variants, O_PATH), directories. */
#include "../check.h"

#include <fcntl.h>
#include <sys/xattr.h>

/* Whether the NUL-separated list holds `name`. */
static int listed(const char *list, ssize_t len, const char *name)
{
	for (const char *p = list; p < list + len; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return 1;
	return 0;
}

int main(void)
{
	char dir[256], file[512], link[512], sub[512];
	snprintf(dir, sizeof(dir), "/dev/shm/conformance-xattr-%d", getpid());
	snprintf(file, sizeof(file), "%s/f", dir);
	snprintf(link, sizeof(link), "%s/l", dir);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	CHECK_OK("mkdir", mkdir(dir, 0755));
	close(open(file, O_WRONLY | O_CREAT, 0644));
	symlink("f", link);
	mkdir(sub, 0755);

	char buf[256];
	CHECK_ERRNO("get_unset", getxattr(file, "user.a", buf, sizeof(buf)), ENODATA);
	CHECK_OK("set", setxattr(file, "user.a", "hello", 5, 0));
	CHECK("get_size_query", getxattr(file, "user.a", NULL, 0) == 5, "size query wrong");
	memset(buf, 0, sizeof(buf));
	CHECK("get", getxattr(file, "user.a", buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0,
	      "got '%s'", buf);
	CHECK_ERRNO("get_erange", getxattr(file, "user.a", buf, 2), ERANGE);
	CHECK_ERRNO("create_exists", setxattr(file, "user.a", "x", 1, XATTR_CREATE), EEXIST);
	CHECK_ERRNO("replace_missing", setxattr(file, "user.b", "x", 1, XATTR_REPLACE), ENODATA);
	CHECK_OK("replace", setxattr(file, "user.a", "bye", 3, XATTR_REPLACE));
	CHECK("replaced_value", getxattr(file, "user.a", buf, sizeof(buf)) == 3 &&
				       memcmp(buf, "bye", 3) == 0, "value not replaced");
	CHECK_ERRNO("bad_flags", setxattr(file, "user.a", "x", 1, 4), EINVAL);
	CHECK_OK("set_empty_value", setxattr(file, "user.empty", "", 0, XATTR_CREATE));
	CHECK("get_empty_value", getxattr(file, "user.empty", buf, sizeof(buf)) == 0, "not empty");
	CHECK_OK("set_trusted", setxattr(file, "trusted.t", "1", 1, 0));
	CHECK_OK("set_security", setxattr(file, "security.s", "2", 1, 0));
	CHECK_ERRNO("system_unsupported", setxattr(file, "system.x", "1", 1, 0), EOPNOTSUPP);
	CHECK_ERRNO("unknown_namespace", setxattr(file, "other.x", "1", 1, 0), EOPNOTSUPP);
	CHECK_ERRNO("get_unknown_namespace", getxattr(file, "other.x", buf, sizeof(buf)),
		    EOPNOTSUPP);
	CHECK_ERRNO("prefix_only", setxattr(file, "user.", "1", 1, 0), EINVAL);
	CHECK_ERRNO("empty_name", setxattr(file, "", "1", 1, 0), ERANGE);
	char long_name[300];
	memset(long_name, 'n', sizeof(long_name));
	memcpy(long_name, "user.", 5);
	long_name[sizeof(long_name) - 1] = 0;
	CHECK_ERRNO("name_too_long", setxattr(file, long_name, "1", 1, 0), ERANGE);
	static char big[65537];
	CHECK_ERRNO("value_too_big", setxattr(file, "user.big", big, sizeof(big), 0), E2BIG);
	CHECK_OK("value_max", setxattr(file, "user.big", big, 65536, 0));
	CHECK_OK("remove_big", removexattr(file, "user.big"));

	char list[1024];
	ssize_t need = listxattr(file, NULL, 0);
	ssize_t len = listxattr(file, list, sizeof(list));
	CHECK("list", len == need && len > 0 && listed(list, len, "user.a") &&
			      listed(list, len, "user.empty") && listed(list, len, "trusted.t") &&
			      listed(list, len, "security.s") && !listed(list, len, "user.big"),
	      "list of %zd bytes (size query %zd)", len, need);
	CHECK_ERRNO("list_erange", listxattr(file, list, 3), ERANGE);

	CHECK_OK("remove", removexattr(file, "user.a"));
	CHECK_ERRNO("remove_again", removexattr(file, "user.a"), ENODATA);
	CHECK_ERRNO("get_removed", getxattr(file, "user.a", buf, sizeof(buf)), ENODATA);

	/* Symlinks: the path variants follow, the l* variants don't, and a symlink can't
	 * carry user.* attributes. */
	CHECK("get_through_symlink", getxattr(link, "trusted.t", buf, sizeof(buf)) == 1,
	      "getxattr did not follow");
	CHECK_ERRNO("lset_user_on_symlink", lsetxattr(link, "user.x", "1", 1, 0), EPERM);
	CHECK_ERRNO("lget_user_on_symlink", lgetxattr(link, "user.x", buf, sizeof(buf)), ENODATA);
	CHECK("llist_symlink_empty", llistxattr(link, list, sizeof(list)) == 0, "symlink has xattrs");
	CHECK_OK("lset_trusted_on_symlink", lsetxattr(link, "trusted.l", "1", 1, 0));
	CHECK("lget_trusted_on_symlink", lgetxattr(link, "trusted.l", buf, sizeof(buf)) == 1,
	      "lgetxattr failed");

	/* The f* variants; an O_PATH fd is EBADF. */
	int fd = CHECK_OK("open", open(file, O_RDONLY));
	CHECK_OK("fset", fsetxattr(fd, "user.f", "abc", 3, 0));
	CHECK("fget", fgetxattr(fd, "user.f", buf, sizeof(buf)) == 3, "fgetxattr failed");
	CHECK("flist", flistxattr(fd, list, sizeof(list)) == need, "flistxattr length");
	CHECK_OK("fremove", fremovexattr(fd, "user.f"));
	close(fd);
	fd = open(file, O_PATH);
	CHECK_ERRNO("fget_o_path", fgetxattr(fd, "user.f", buf, sizeof(buf)), EBADF);
	close(fd);
	CHECK_ERRNO("fget_bad_fd", fgetxattr(-1, "user.f", buf, sizeof(buf)), EBADF);

	/* Directories carry them too. */
	CHECK_OK("set_on_dir", setxattr(sub, "user.d", "1", 1, 0));
	CHECK("get_on_dir", getxattr(sub, "user.d", buf, sizeof(buf)) == 1, "getxattr on dir");
	CHECK_ERRNO("get_missing_path", getxattr("/nonexistent/x", "user.a", buf, sizeof(buf)),
		    ENOENT);

	unlink(link);
	unlink(file);
	rmdir(sub);
	rmdir(dir);
	return check_finish();
}
