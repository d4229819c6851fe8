/*
 * Error messages of the DICOM reader never carry input bytes: a text file that is not DICOM is
 * rejected without echoing its first bytes as a "tag".
 */
#include <stdio.h>
#include <string.h>

#include "medseal/dicom.h"
#include "test.h"

TEST(test_dcm_not_dicom_message_has_no_content_bytes)
{
    static const char text[] = "Patient Wilhelmina Fernsworth, MRN SYN1234567\n";
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_read_mem((const uint8_t *)text, sizeof text - 1, NULL, &f, &err) != MS_OK);
    CHECK(f == NULL);
    CHECK(strstr(err.msg, "not DICOM") != NULL);
    CHECK(strstr(err.msg, "6150") == NULL); /* "Pa" read as a group number */
    CHECK(strstr(err.msg, "Pati") == NULL);
    return 0;
}
